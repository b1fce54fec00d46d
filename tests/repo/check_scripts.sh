#!/usr/bin/env bash
# Every shell script in the repository parses (bash -n) and is executable.
set -euo pipefail
cd "$(dirname "$0")/../.."
fail=0
while IFS= read -r f; do
  if ! bash -n "$f"; then echo "syntax error: $f"; fail=1; fi
  if [[ ! -x "$f" ]]; then echo "not executable: $f"; fail=1; fi
done < <(git ls-files '*.sh' .ci/run 2>/dev/null || find . -name '*.sh' -not -path './build*')
count=$(git ls-files '*.sh' .ci/run | wc -l)
[[ $count -ge 4 ]] || { echo "expected at least 4 scripts, found $count"; fail=1; }
grep -q 'tests/run.sh' .ci/run || { echo ".ci/run does not call tests/run.sh"; fail=1; }
for c in ./deploy/local/up.sh ./tests/run.sh; do
  grep -qF "$c" README.md || { echo "README.md does not give $c"; fail=1; }
done
[[ $fail -eq 0 ]] && echo "scripts OK ($count)"
exit $fail
