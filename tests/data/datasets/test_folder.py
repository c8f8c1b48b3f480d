"""labels.csv: every row checked, one line naming the file and line; paths kept inside the folder."""

import os

import pytest

from hyperimage.data.datasets import _layout, folder


def _labels(root, text, encoding="utf-8"):
    root.mkdir(exist_ok=True)
    (root / "labels.csv").write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return root / "labels.csv"


def test_a_clean_file_with_a_bom_and_extra_columns_reads(tmp_path):
    _labels(tmp_path / "d", "\ufeffimage,score,level,split,note\na.png,1.5,3,train,x\n\nsub/b.png,2,,,\n")
    records = folder.load(tmp_path / "d")
    assert [(r.path.name, r.target, r.level, r.split, r.extra) for r in records] == [
        ("a.png", 1.5, 3, "train", {"note": "x"}), ("b.png", 2.0, None, None, {"note": ""}),
    ]


@pytest.mark.parametrize(
    "rows,message",
    [
        ("a.png,-inf\n", "{csv}:2: score '-inf' is not a finite number"),
        ("a.png,1,x\n", "{csv}:2: level 'x' is not a whole number"),
        ("a.png,1,2.5\n", "{csv}:2: level '2.5' is not a whole number"),
        ("a.png,1,,Test\n", "{csv}:2: split 'Test' is not one of train, val, test"),
        (",1\n", "{csv}:2: no image path"),
        ("a.png,1\n./a.png,1\n", "{csv}:3: './a.png' is listed again (first at line 2); list each image once"),
        ("/etc/passwd,1\n", "{csv}:2: image '/etc/passwd' resolves outside the data folder (/etc/passwd); pass --allow-outside to read it"),
        ("a.png,1,,,../ref.png\n", "{csv}:2: reference '../ref.png' resolves outside the data folder ({tmp}/ref.png); pass --allow-outside to read it"),
        ("a.png,1,,,,../../m.png\n", "{csv}:2: mask '../../m.png' resolves outside the data folder ({up}/m.png); pass --allow-outside to read it"),
        ("a.png,1\n" + "b" * 200_000 + ",1\n", "{csv}:3: not readable as CSV (field larger than field limit (131072))"),
    ],
)
def test_bad_rows_are_one_line_naming_file_and_line(tmp_path, rows, message):
    csv_path = _labels(tmp_path / "d", "image,score,level,split,reference,mask\n" + rows)
    with pytest.raises(ValueError) as err:
        folder.load(tmp_path / "d")
    assert str(err.value) == message.format(csv=csv_path, tmp=tmp_path, up=tmp_path.parent)


def test_a_label_file_that_is_not_utf8_names_line_and_byte(tmp_path):
    csv_path = _labels(tmp_path / "d", "image,label\nä.png,1\nö.png,0\n", encoding="cp1252")
    with pytest.raises(ValueError) as err:
        folder.load(tmp_path / "d")
    assert str(err.value) == f"{csv_path}:2: not UTF-8 text (byte 0xe4 at offset 12); save it as UTF-8"


def test_symlinks_are_followed_only_inside_the_folder(tmp_path):
    root = tmp_path / "d"
    _labels(root, "image,score\ninside.png,1\nout.png,2\n")
    (root / "real.png").write_bytes(b"")
    os.symlink(root / "real.png", root / "inside.png")
    os.symlink(tmp_path / "secret.png", root / "out.png")
    with pytest.raises(ValueError, match=rf"{root}/labels.csv:3: image 'out.png' resolves outside the data folder \({tmp_path}/secret.png\)"):
        folder.load(root)
    records = folder.load(root, allow_outside=True)
    assert [r.path for r in records] == [root / "inside.png", root / "out.png"]


def test_allow_outside_accepts_paths_that_leave_the_folder(tmp_path):
    _labels(tmp_path / "d", "image,score\n../a.png,1\n/abs/b.png,2\n")
    assert [str(r.path) for r in folder.load(tmp_path / "d", allow_outside=True)] == [f"{tmp_path}/d/../a.png", "/abs/b.png"]


def test_published_layout_numbers_must_be_finite():
    assert _layout.number("4.5", "f:1") == 4.5
    for text in ("nan", "inf", "-Infinity"):
        with pytest.raises(ValueError, match=f"^f:3: '{text}' is not a finite number$"):
            _layout.number(text, "f:3")
