#!/bin/sh
# The API reference builds with LDoc (config.ld) without a warning: LDoc
# prints only its two progress lines when every doc comment is well formed.
set -eu
src="$1"
out="$2/docs-check"
rm -rf "$out"
cd "$src"
log=$(ldoc -c config.ld -d "$out" . 2>&1)
extra=$(printf '%s\n' "$log" | grep -v -e '^reading configuration from config.ld$' \
                                        -e '^output written to ' || true)
if [ -n "$extra" ]; then
    printf '%s\n' "$extra"
    echo "docs: LDoc warned (above)"
    exit 1
fi
for m in realprune realprune.prune realprune.xbar realprune.reram core.xbar core.nn \
         realprune.core.tensor; do
    [ -s "$out/modules/$m.html" ] || [ -s "$out/index.html" -a "$m" = realprune ] ||
        { echo "docs: no page for $m"; exit 1; }
done
echo "docs: LDoc built $(ls "$out/modules" | wc -l) module pages without warnings"
