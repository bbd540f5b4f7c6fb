#!/bin/sh
# The style checks of the suite: luacheck clean (.luacheckrc), every C file as
# clang-format writes it (.clang-format), and no line of code, build file or
# script over 100 columns.  Run from the source folder.
set -eu
cd "${1:-.}"
status=0
luacheck --quiet --no-color . || status=1
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find core bindings app tests bench -name '*.[ch]')
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files ||
    { echo "lint: run clang-format -i on the files above"; status=1; }
code=$(git ls-files '*.lua' '*.c' '*.h' '*.sh' '*.in' 'CMakeLists.txt' 'Makefile' '.ci/*' |
       grep -v '^tests/fixtures/torch_reference.lua$')
# shellcheck disable=SC2086
lua5.4 tests/line_length.lua $code || { echo "lint: lines over 100 columns"; status=1; }
[ "$status" = 0 ] && echo "lint: luacheck, clang-format and line length clean"
exit "$status"
