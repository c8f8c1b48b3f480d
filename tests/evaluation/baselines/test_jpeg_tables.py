import numpy as np
import pytest
from PIL import Image

from hyperimage.evaluation.baselines.jpeg_tables import NO_TABLES, JpegTableLookup, quantisation_key


def _save(path, quality, seed):
    rng = np.random.default_rng(seed)
    img = Image.fromarray((rng.random((24, 32, 3)) * 255).astype(np.uint8))
    if quality is None:
        img.save(path)
    else:
        img.save(path, quality=quality)
    return path


def test_files_saved_alike_share_a_key_and_others_do_not(tmp_path):
    a = quantisation_key(_save(tmp_path / "a.jpg", 90, 0))
    b = quantisation_key(_save(tmp_path / "b.jpg", 90, 1))
    c = quantisation_key(_save(tmp_path / "c.jpg", 60, 2))
    assert a == b != c and a != NO_TABLES
    assert quantisation_key(_save(tmp_path / "d.png", None, 3)) == NO_TABLES
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    assert quantisation_key(tmp_path / "broken.jpg") == NO_TABLES


def test_lookup_reads_the_label_from_the_header_and_falls_back_to_the_prior(tmp_path):
    # authentic (1) saved at quality 90, tampered (0) at 60: the header alone separates them
    train = [(_save(tmp_path / f"au{i}.jpg", 90, i), 1.0) for i in range(4)]
    train += [(_save(tmp_path / f"tp{i}.jpg", 60, 10 + i), 0.0) for i in range(2)]
    lookup = JpegTableLookup().fit([p for p, _ in train], [y for _, y in train])
    test = [_save(tmp_path / "t_au.jpg", 90, 20), _save(tmp_path / "t_tp.jpg", 60, 21), _save(tmp_path / "t_new.jpg", 30, 22)]
    p = lookup.predict_proba(test)
    assert p[0] == pytest.approx(5 / 6) and p[1] == pytest.approx(1 / 4)  # one pseudo-count each way
    assert p[2] == pytest.approx(4 / 6)  # unseen tables: the training share of authentic files
    with pytest.raises(ValueError, match="one label per path"):
        JpegTableLookup().fit([test[0]], [1.0, 0.0])


def test_the_resave_check_gives_every_jpeg_the_same_tables_and_keeps_the_layout(tmp_path, capsys, monkeypatch):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[3] / "benchmarks" / "resave_check.py"
    monkeypatch.syspath_prepend(str(script.parent))  # as `python benchmarks/resave_check.py` runs it: beside _results.py
    spec = importlib.util.spec_from_file_location("resave_check", script)
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    data = tmp_path / "data"
    (data / "Au").mkdir(parents=True)
    (data / "gt").mkdir()
    for name, quality in (("Au/a.jpg", 95), ("Au/b.jpg", 50), ("gt/m.png", None)):
        _save(data / name, quality, len(name))
    assert quantisation_key(data / "Au" / "a.jpg") != quantisation_key(data / "Au" / "b.jpg")
    out = check.resave(data, tmp_path / "out", 90)
    at_90 = quantisation_key(_save(tmp_path / "ref.jpg", 90, 3))
    assert quantisation_key(out / "Au" / "a.jpg") == quantisation_key(out / "Au" / "b.jpg") == at_90
    assert (out / "gt" / "m.png").read_bytes() == (data / "gt" / "m.png").read_bytes()
    (data / "Au" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    check.resave(data, tmp_path / "again", 90)  # one bad file names itself; the rest is copied
    assert "broken.jpg: not re-saved" in capsys.readouterr().err
    assert not (tmp_path / "again" / "Au" / "broken.jpg").exists() and (tmp_path / "again" / "Au" / "b.jpg").is_file()
