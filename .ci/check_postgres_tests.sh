#!/usr/bin/env bash
# Fail when a postgres-marked test was skipped, reading the line the
# pytest_terminal_summary hook in tests/conftest.py prints:
#     kern: postgres tests: N passed, M skipped, K failed
# With KERN_CI_REQUIRE_POSTGRES=1, also fail when none passed.
set -euo pipefail

LOG="$1"
line="$(grep -E '^kern: postgres tests: [0-9]+ passed, [0-9]+ skipped, [0-9]+ failed$' "$LOG" \
    | tail -n 1 || true)"
if [[ -z "$line" ]]; then
    echo "ci: FAILED: pytest printed no 'kern: postgres tests:' line (tests/conftest.py hook)" >&2
    exit 1
fi
echo "$line"

read -r passed skipped failed < <(
    sed -E 's/^kern: postgres tests: ([0-9]+) passed, ([0-9]+) skipped, ([0-9]+) failed$/\1 \2 \3/' \
        <<<"$line"
)
if ((skipped > 0)); then
    echo "ci: FAILED: $skipped postgres test(s) skipped; is KERN_TEST_POSTGRES_URL reachable?" >&2
    exit 1
fi
if ((failed > 0)); then
    echo "ci: FAILED: $failed postgres test(s) failed" >&2
    exit 1
fi
if [[ "${KERN_CI_REQUIRE_POSTGRES:-0}" == 1 ]] && ((passed == 0)); then
    echo "ci: FAILED: KERN_CI_REQUIRE_POSTGRES=1 but no postgres test ran" >&2
    exit 1
fi
echo "No postgres test was skipped."
