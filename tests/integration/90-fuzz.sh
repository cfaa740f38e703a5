#!/bin/bash
# A short fuzzing pass over every libFuzzer target in tests/fuzz (config, duration and size
# parsers, request parser, Steam VDF, Ludusavi manifest and its placeholders): a few seconds
# each, failing on any crash, leak or hang.
source "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ "${ASAN:-}" = 1 ]; then
	# tests/fuzz/run.sh builds its targets with clang's address and undefined sanitizers from
	# the sources alone, whatever the pass: this pass would build and run the same programs again.
	skip "the fuzz targets" "they are ASan+UBSan builds in the plain pass too, which runs them"
	done_testing
fi

# run.sh prints its own TAP lines; they are renumbered into this test's plan.
out=$(B=$SK_BUILD "$ROOT/tests/fuzz/run.sh" "${FUZZ_SECONDS:-3}" 2>&1)
rc=$?
while IFS= read -r line; do
	case $line in
	"ok "*) ok "${line#ok * - }" ;;
	"not ok "*) fail "${line#not ok * - }" ;;
	"#"*) echo "$line" ;;
	esac
done <<<"$out"
((rc == 0)) || [[ $out == *"not ok"* ]] || fail "tests/fuzz/run.sh exited with status $rc"
done_testing
