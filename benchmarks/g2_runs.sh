#!/usr/bin/env bash
# The G2 benchmark's long runs (issue 12's acceptance table), one after the other, each
# into benchmarks/results_g2_<xc>_<basis>.jsonl with --resume: stopped anywhere (a killed
# job, a machine given back), the same command carries on from the last species written.
#
#     bash benchmarks/g2_runs.sh                  # every run below, in order
#     bash benchmarks/g2_runs.sh m06-l:def2-tzvp  # one or more runs, as xc:basis
#
# A full run takes hours on a 2-core CPU (B3LYP/def2-TZVP: 2.8 h; the neural functionals
# more); run it at low priority (nice -n 19) beside other work, or on a GPU machine.
# Summaries: `dftjax bench g2 ... --resume` on a finished file prints its table again
# without computing anything.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"

runs=("$@")
if [ ${#runs[@]} -eq 0 ]; then
    runs=(b3lyp:def2-tzvp m06-l:def2-tzvp nn-metagga:6-31g nn-nra:6-31g
          nn-metagga:def2-tzvp nn-nra:def2-tzvp)
fi

for run in "${runs[@]}"; do
    xc=${run%%:*}
    basis=${run#*:}
    output="results_g2_${xc}_${basis}.jsonl"
    echo "== $xc / $basis -> benchmarks/$output" >&2
    dftjax bench g2 --xc "$xc" --basis "$basis" --grid-level 3 --output "$output" --resume
done
