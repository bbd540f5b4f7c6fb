#!/bin/sh
# The style checks of the suite: luacheck clean (.luacheckrc), every C file as
# clang-format writes it (.clang-format), and no line of code, build file or
# script over 100 columns.  Run from the source folder.
set -eu
cd "${1:-.}"
status=0
luacheck --quiet --no-color . || status=1
# the files of the tree: tracked and untracked-but-not-ignored ones that exist
# (find outside a git work tree)
list() {
    if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
        git ls-files -co --exclude-standard -- "$@"
    else
        for pat in "$@"; do find . -path ./build -prune -o -path './build-*' -prune -o \
            -name "$pat" -type f -print | sed 's|^\./||'; done
    fi | while read -r f; do [ -f "$f" ] && echo "$f"; done | sort -u
}
files=$(list '*.c' '*.h')
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files ||
    { echo "lint: run clang-format -i on the files above"; status=1; }
code=$(list '*.lua' '*.c' '*.h' '*.sh' '*.in' 'CMakeLists.txt' 'Makefile' 'run' |
       grep -v '^tests/fixtures/torch_reference.lua$' || true)
# shellcheck disable=SC2086
lua5.4 tests/line_length.lua $code || { echo "lint: lines over 100 columns"; status=1; }
[ "$status" = 0 ] && echo "lint: luacheck, clang-format and line length clean"
exit "$status"
