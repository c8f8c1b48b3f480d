#!/usr/bin/env bash
# Lay out LIVE-C and CASIA v1.0 (with its community masks) from git copies of the public
# repositories that hold them, in the published layouts hyperimage's loaders read.
# Only data is copied, never code; running it again overwrites the same files.
#
#   tools/get_real_data.sh livec    GIT_DIR OUT   # hqc0929/IQA-dataset            -> OUT/ChallengeDB_release/
#   tools/get_real_data.sh casia1   GIT_DIR OUT   # kPsarakis/Image-Forgery-Detection-CNN -> OUT/CASIA1/{Au,Sp}
#   tools/get_real_data.sh casia1gt GIT_DIR OUT   # namtpham/casia1groundtruth     -> OUT/CASIA1/"CASIA 1.0 groundtruth"/
#
# GIT_DIR is the repository's git directory (a clone's .git, or a bare clone). The images of
# CASIA v1.0 exist only in one historical commit of their repository (CASIA1_COMMIT below).
set -euo pipefail

CASIA1_COMMIT=424d7d15a6e150d086aac79620466762ddf42b72

usage() { echo "usage: $0 livec|casia1|casia1gt GIT_DIR OUT" >&2; exit 2; }
[ $# -eq 3 ] || usage
kind=$1 repo=$2 out=$3
[ -d "$repo" ] || { echo "$repo: not a directory" >&2; exit 2; }
mkdir -p "$out"

# files of one commit of the repository, extracted under a folder
extract() {  # extract COMMIT DEST STRIP PATH...
    local commit=$1 dest=$2 strip=$3; shift 3
    git --git-dir="$repo" archive "$commit" -- "$@" | tar -x -C "$dest" --strip-components="$strip"
}

case $kind in
livec)
    extract HEAD "$out" 0 ChallengeDB_release/Images ChallengeDB_release/Data ChallengeDB_release/README.txt
    find "$out/ChallengeDB_release" -name .DS_Store -delete
    n=$(find "$out/ChallengeDB_release/Images" -maxdepth 1 -type f | wc -l)
    echo "LIVE In the Wild Challenge in $out/ChallengeDB_release: $n images (and trainingImages/)"
    ;;
casia1)
    mkdir -p "$out/CASIA1"
    extract "$CASIA1_COMMIT" "$out/CASIA1" 2 data/CASIA1/Au data/CASIA1/Sp
    echo "CASIA v1.0 in $out/CASIA1: $(ls "$out/CASIA1/Au" | wc -l) authentic, $(ls "$out/CASIA1/Sp" | wc -l) tampered"
    ;;
casia1gt)
    # the masks ship as one zip file in the repository
    mkdir -p "$out/CASIA1"
    zip=$(mktemp --suffix=.zip)
    trap 'rm -f "$zip"' EXIT
    git --git-dir="$repo" show "HEAD:CASIA 1.0 groundtruth.zip" >"$zip"
    python3 -m zipfile -e "$zip" "$out/CASIA1"
    rm -rf "$out/CASIA1/__MACOSX"
    masks="$out/CASIA1/CASIA 1.0 groundtruth"
    echo "CASIA v1.0 masks in $masks: $(ls "$masks/Sp" | wc -l) splicing, $(ls "$masks/CM" | wc -l) copy-move"
    ;;
*)
    usage
    ;;
esac
