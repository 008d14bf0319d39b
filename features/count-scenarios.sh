#!/usr/bin/env bash
# Prints how many scenarios cover each spec section, by tag (@api-N, @domain-N, @auth-N,
# @locations-N, @observability-N).
# Tags sit on the line above each Scenario / Scenario Outline; an outline counts once here,
# although cucumber runs it once per Examples row.
set -euo pipefail
dir="${1:-$(dirname "$0")/tests/features}"
grep -rhoE --include='*.feature' '@(api|domain|auth|locations|observability)-[0-9]+' "$dir" \
  | sort | uniq -c | sort -k2,2V | awk '{ printf "%-17s %4d\n", $2, $1 }'
grep -rhcE --include='*.feature' '^\s*Scenario( Outline)?:' "$dir" \
  | awk '{ total += $1 } END { printf "%-17s %4d\n", "scenarios", total }'
