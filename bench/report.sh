#!/bin/bash
# Turns the raw results of bench/run.sh (RESULTS/*.tsv) into tables on stdout, charts made with
# gnuplot, and a Markdown report: docs/benchmarks.md with docs/bench/*.png after a full run,
# RESULTS/benchmarks.md with RESULTS/*.png after a quick or partial (PARTIAL=1) one. Can be run again on old results.
#
#   bench/report.sh RESULTS
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RES=$(cd "${1:?usage: report.sh RESULTS}" && pwd)
cd "$ROOT" || exit 1
QUICK=${QUICK:-$(grep -q '^mode	quick' "$RES/machine.tsv" && echo 1 || echo 0)}
PARTIAL=${PARTIAL:-0}
if ((QUICK || PARTIAL)); then
	MD=$RES/benchmarks.md IMGDIR=$RES IMGREF=.
else
	MD=docs/benchmarks.md IMGDIR=docs/bench IMGREF=bench
fi
mkdir -p "$IMGDIR"
for f in load snap mem idle tick manifest sessions; do touch "$RES/$f.tsv"; done
meta() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$RES/machine.tsv"; }

# ---- tables ----------------------------------------------------------------------------------

# load_matrix PIN METRIC: rows server/mode, a column per client count; each cell the metric
# and its ratio to the echo server at the same pinning and client count.
# METRIC: rps (req/s), lat (p50 / p99 us), cpu (server CPU us per request).
load_matrix() {
	awk -F'\t' -v pin="$1" -v metric="$2" '
	$3 != pin { next }
	{
		key = $1 " | " $2
		if (!(key in seen)) { seen[key] = 1; rows[++nr] = key }
		if (!($4 in cseen)) { cseen[$4] = 1; cols[++nc] = $4 }
		rps[key, $4] = $6; p50[key, $4] = $7; p99[key, $4] = $8; cpu[key, $4] = $10
		if ($1 == "echo") { erps[$4] = $6; ecpu[$4] = $10 }
	}
	function k(v) { return v >= 10000 ? sprintf("%.1fk", v / 1000) : sprintf("%.0f", v) }
	function cell(key, c) {
		if (metric == "lat") return p50[key, c] " / " p99[key, c]
		if (metric == "rps") return k(rps[key, c]) (erps[c] > 0 ? sprintf(" (%.2fx)", rps[key, c] / erps[c]) : "")
		if (cpu[key, c] == "-") return "-"
		return cpu[key, c] (ecpu[c] > 0 ? sprintf(" (%.2fx)", cpu[key, c] / ecpu[c]) : "")
	}
	END {
		if (!nr) { print "(no runs)"; exit }
		printf "| server | mode |"; for (j = 1; j <= nc; j++) printf " %s client%s |", cols[j], cols[j] == 1 ? "" : "s"
		printf "\n| --- | --- |"; for (j = 1; j <= nc; j++) printf " ---: |"; printf "\n"
		for (i = 1; i <= nr; i++) {
			printf "| %s |", rows[i]
			for (j = 1; j <= nc; j++) printf " %s |", cell(rows[i], cols[j])
			printf "\n"
		}
	}' "$RES/load.tsv"
}

load_full() {
	echo "| server | mode | pinning | clients | requests | req/s | p50 us | p99 us | max us | server CPU us/req | errors |"
	echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	awk -F'\t' -v OFS=' | ' '{ print "| " $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 " |" }' "$RES/load.tsv"
}

mem_table() {
	echo "| server | phase | RSS MiB | PSS MiB | private dirty MiB | peak RSS (VmHWM) MiB | threads | fds | children | children RSS MiB | children PSS MiB |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	awk -F'\t' '{ printf "| %s | %s | %.1f | %.1f | %s | %.1f | %d | %d | %d | %.1f | %.1f |\n",
		$1, $2, $3 / 1024, $4 / 1024, $11 == "" ? "-" : sprintf("%.2f", $11 / 1024), $5 / 1024, $6, $7, $10,
		$8 / 1024, $9 / 1024 }' "$RES/mem.tsv"
}

snap_table() {
	echo "| tree | tool | runs | wall s | CPU s | peak RSS MiB | output MiB | wall vs tar -czf | CPU vs tar -czf | size vs tar -czf |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	awk -F'\t' '
	{ n++; t[n] = $1; tool[n] = $2; w[n] = $3; c[n] = $4; r[n] = $5; s[n] = $6; k[n] = $7
	  if ($2 == "tar -czf") { tw[$1] = $3; tc[$1] = $4; ts[$1] = $6 } }
	function ratio(a, b) { return b > 0 ? sprintf("%.2fx", a / b) : "-" }
	END { for (i = 1; i <= n; i++)
		printf "| %s | %s | %d | %.3f | %.3f | %.1f | %.1f | %s | %s | %s |\n", t[i], tool[i], k[i], w[i], c[i],
			r[i] / 1024, s[i] / 1048576, ratio(w[i], tw[t[i]]), ratio(c[i], tc[t[i]]), ratio(s[i], ts[t[i]]) }' \
		"$RES/snap.tsv"
}

# The incremental run (incr.tsv): each row against tar -czf and, for round i, the tar -cf of
# the same round; then the spread over the rounds and the XFS figure.
incr_table() {
	[[ -s $RES/incr.tsv ]] || { echo "(not measured)"; return; }
	echo "| step | wall s | CPU s | other tasks' CPU s meanwhile | peak RSS MiB | archive MiB | wall: tar -czf / this | wall vs tar -cf of its round |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	awk -F'\t' '
	function med(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	$1 == "reuse" { reuse = reuse (reuse == "" ? "" : "; ") $2; next }
	$1 == "xfs" { xused = $2; xalone = $3; next }
	{ n++; name[n] = $1; w[n] = $2; c[n] = $3; r[n] = $4; s[n] = $5; o[n] = $6
	  if ($1 == "tar -czf") tz = $2
	  if ($1 ~ /^tar -cf [0-9]+$/) { split($1, p, " "); tc[p[3]] = $2 }
	  if ($1 ~ /^tar -cf [0-9]+ at nice 0$/) { split($1, p, " "); t0[p[3]] = $2 } }
	END {
		for (i = 1; i <= n; i++) {
			round = ""
			if (name[i] ~ /^(incremental snapshot|tar -cf) [0-9]+/ && name[i] !~ /at nice 0$/) { split(name[i], p, " "); round = p[3] }
			printf "| %s | %.3f | %.3f | %s | %.1f | %.1f | %s | %s |\n", name[i], w[i], c[i], (o[i] == "" ? "-" : sprintf("%.2f", o[i])), r[i] / 1024, s[i] / 1048576,
				((w[i] > 0 && tz > 0) ? sprintf("%.1fx", tz / w[i]) : "-"),
				(round != "" && tc[round] > 0 ? sprintf("%.2fx", w[i] / tc[round]) : "-")
			if (name[i] ~ /^incremental snapshot [0-9]+/) { k++; iw[k] = w[i]; rr[k] = w[i] / tc[round]; ir[k] = r[i]; io[k] = o[i]
				if (t0[round] > 0) { k0++; r0[k0] = w[i] / t0[round] } }
		}
		if (k) {
			lo = hi = iw[1]; rlo = rhi = rr[1]; mr = ir[1]
			for (i = 2; i <= k; i++) { if (iw[i] < lo) lo = iw[i]; if (iw[i] > hi) hi = iw[i]
				if (rr[i] < rlo) rlo = rr[i]; if (rr[i] > rhi) rhi = rr[i]; if (ir[i] > mr) mr = ir[i] }
			m = med(iw, k)
			printf "\nIncremental snapshots over %d rounds: wall %.3f-%.3f s (median %.3f s), %.1f-%.1fx faster than tar -czf (median %.1fx; target >= 30x), %.2f-%.2fx the tar -cf of their round (target <= 1x); peak RSS up to %.1f MiB.\n", k, lo, hi, m, tz / hi, tz / lo, tz / m, rlo, rhi, mr / 1024
			if (k0) {
				lo0 = hi0 = r0[1]
				for (i = 2; i <= k0; i++) { if (r0[i] < lo0) lo0 = r0[i]; if (r0[i] > hi0) hi0 = r0[i] }
				printf "\nAgainst tar -cf at nice 0 (the snapshot runs at nice 19 with the idle I/O class, its default): %.2f-%.2fx.\n", lo0, hi0
			}
			# A round whose snapshot shared the CPUs with other work waits for them: say which.
			busy = ""
			for (i = 1; i <= k; i++) if (io[i] != "" && io[i] > 0.25 * iw[i]) busy = busy (busy == "" ? "" : ", ") sprintf("%d (%.2f s, %.2fx)", i, io[i], rr[i])
			if (busy != "") printf "\nRounds whose snapshot ran while other tasks had more than a quarter of a CPU (their CPU time, the round against its tar -cf): %s.\n", busy
		}
		if (reuse != "") printf "\nFiles read and taken per round: %s.\n", reuse
		if (xused != "") printf "\nOn XFS (loop-mounted image, groups cloned with FICLONERANGE): the incremental snapshot added %d bytes of used space; the changed files alone snapshot to %d bytes: %.3fx (target <= 1.05x).\n", xused, xalone, (xalone > 0 ? xused / xalone : 0)
	}' "$RES/incr.tsv"
}

idle_table() {
	echo "| server | syscalls | seconds traced | which |"
	echo "| --- | ---: | ---: | --- |"
	awk -F'\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2 == "-" ? "strace failed" : $2, $3, $4 == "" ? "none" : $4 }' \
		"$RES/idle.tsv"
}

# The copy's wall time against rclone copyto of the same archive (at normal priority and at the
# copy job's nice 19), per backend and archive size: medians of the rounds, round 0 alone (it
# starts the daemon's rcd), the ratio of the medians, and the lowest and highest ratio of a
# single round.
remote_table() {
	[[ -s $RES/remote.tsv ]] || { echo "Not measured (rclone is not installed)."; return; }
	echo "| backend | archive | rounds | copy job, ms | round 0 (starts rcd), ms | rclone copyto, ms | copyto at nice 19, ms | copy job / copyto | per round, min-max |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	sort -t$'\t' -k1,1r -k2,2n -k3,3n "$RES/remote.tsv" | awk -F'\t' '
		function median(v, n,   i, j, t) {
			for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
			return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		}
		function flush(   mo, mp, ml) {
			if (!n) return
			mo = median(o, n); mp = median(p, n); ml = median(l, n)
			printf "| %s | %.0f MiB | %d | %.0f | %s | %.0f | %.0f | %.2f | %.2f-%.2f |\n", key_b, key_s / 1048576, n, mo, first, mp, ml, mo / mp, lo, hi
			n = 0
		}
		{
			if ($1 != key_b || $2 != key_s) { flush(); key_b = $1; key_s = $2; lo = 1e9; hi = 0; first = "-" }
			if ($3 == 0) first = $4
			n++; o[n] = $4; p[n] = $5; l[n] = $6; r = $4 / $5
			if (r < lo) lo = r; if (r > hi) hi = r
		}
		END { flush() }'
}

tick_table() {
	echo "| core | daemon CPU per unchanged tick, ms | ticks measured |"
	echo "| --- | ---: | ---: |"
	awk -F'\t' '{ printf "| %s | %s | %s |\n", $1, $2, $3 }' "$RES/tick.tsv"
}

# The best (least wall) and worst run of each reader, with the peak RSS over all its runs.
manifest_table() {
	echo "| reader | manifest MiB | runs | wall s, best | wall s, worst | user s, best | sys s, best | peak RSS MiB |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	awk -F'\t' '
	{ k = $1; if (!(k in n)) order[++m] = k; n[k]++; size[k] = $2
	  if (!(k in best) || $3 < best[k]) { best[k] = $3; u[k] = $4; s[k] = $5 }
	  if ($3 > worst[k]) worst[k] = $3; if ($6 > rss[k]) rss[k] = $6 }
	END { for (i = 1; i <= m; i++) { k = order[i]
		printf "| %s | %.1f | %d | %.3f | %.3f | %.3f | %.3f | %.1f |\n", k, size[k] / 1048576, n[k], best[k],
			worst[k], u[k], s[k], rss[k] / 1024 } }' "$RES/manifest.tsv"
}

# The least and most CPU of one look at /proc over the runs.
sessions_table() {
	echo "| processes | runs | wall us per look, best | CPU us per look, best | CPU us per look, worst | CPU share at one look per 3 s |"
	echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
	awk -F'\t' '{ n++; p = $1; if (!b || $4 < b) { b = $4; w = $3 } if ($4 > m) m = $4 }
		END { if (n) printf "| %d | %d | %.0f | %.0f | %.0f | %.4f%% |\n", p, n, w, b, m, m / 3e6 * 100 }' \
		"$RES/sessions.tsv"
}

# ---- targets ---------------------------------------------------------------------------------

# One row per target and core: the measured value and PASS or MISS. Targets are read from
# the numbers, never asserted.
targets() {
	echo "| target | core | measured | result |"
	echo "| --- | --- | --- | --- |"
	awk -F'\t' -v quick="$QUICK" '
	FILENAME ~ /load.tsv$/ && ($4 == 1 || $4 == 4 || $4 == 8) {
		if ($1 == "echo") { erps[$3, $4] = $6; ecpu[$3, $4] = $10; next }
		k = $1 SUBSEP $2 SUBSEP $3; rps[k, $4] = $6; cpu[k, $4] = $10; p99[k, $4] = $8; have[$1] = 1
	}
	FILENAME ~ /mem.tsv$/ && $2 == "idle" { rss[$1] = $3; pss[$1] = $4; pd[$1] = $11 }
	FILENAME ~ /idle.tsv$/ { sys[$1] = $2; syssec[$1] = $3 }
	FILENAME ~ /snap.tsv$/ { sw[$1, $2] = $3; sc[$1, $2] = $4; sr[$1, $2] = $5; ss[$1, $2] = $6 }
	function row(t, c, m, ok) { printf "| %s | %s | %s | %s |\n", t, c, m, ok ? "PASS" : "MISS" }
	# The worst ratio to echo over the client counts measured at this pinning; -1 if none.
	function worst(c, md, pin, what,   n, m, r, e) {
		m = -1
		for (n = 1; n <= 8; n *= 2) {
			if (n == 2 || !((c, md, pin, n) in rps) || !((pin, n) in erps)) continue
			if (what == "rps") { e = erps[pin, n]; r = e > 0 ? rps[c, md, pin, n] / e : 0 }
			else { e = ecpu[pin, n]; r = e > 0 && e != "-" ? cpu[c, md, pin, n] / e : 0 }
			if (m < 0 || (what == "rps" ? r < m : r > m)) m = r
		}
		return m
	}
	# The worst p99 over 1, 4, 8 clients; -1 when a run got no answer at all.
	function maxp99(k,   c, m) {
		m = 0
		for (c = 1; c <= 8; c *= 2) {
			if (c == 2 || !((k, c) in p99)) continue
			if (p99[k, c] == "-") return -1
			if (p99[k, c] + 0 > m) m = p99[k, c] + 0
		}
		return m
	}
	END {
		n = split("thread coroutine process coroutine-inline", cores, " ")
		for (i = 1; i <= n; i++) {
			c = cores[i]; if (!have[c]) continue
			for (p = 1; p <= 2; p++) {
				pin = p == 1 ? "none" : "same"; pn = p == 1 ? "unpinned" : "pinned to one CPU"
				for (mode = 1; mode <= 2; mode++) {
					md = mode == 1 ? "idle" : "busy"; r = worst(c, md, pin, "rps")
					# Busy, a coroutine shares the loop thread with the snapshot: 0.5x, and
					# compressing on that thread too it is held to latency alone.
					lim = md == "busy" && c == "coroutine" ? 0.5 : 0.9
					if (r >= 0 && !(md == "busy" && c == "coroutine-inline"))
						row(sprintf("ping req/s >= %.1fx echo at 1, 4, 8 clients, %s, %s", lim, md, pn), c,
						    sprintf("worst %.2fx", r), r >= lim)
				}
				r = worst(c, "idle", pin, "cpu")
				if (r >= 0)
					row("server CPU per ping <= 1.2x echo (idle, 1, 4, 8 clients), " pn, c, sprintf("worst %.2fx", r), r <= 1.2)
			}
			lim = c == "coroutine-inline" ? 2000 : 1000
			m = maxp99(c SUBSEP "busy" SUBSEP "none")
			row(sprintf("p99 < %d ms while snapshots run (1, 4, 8 clients), unpinned", lim / 1000), c,
				m < 0 ? "no answer (errors)" : sprintf("worst %.0f us", m), m >= 0 && m < lim)
		}
		for (i = 1; i <= 3; i++) {
			c = cores[i]; if (!(c in rss)) continue
			row("idle daemon RSS <= 4 MiB", c, sprintf("%.1f MiB", rss[c] / 1024), rss[c] <= 4096)
			if (pd[c] != "")
				row("idle private dirty < 2 MiB", c, sprintf("%.2f MiB (PSS %.1f MiB, RSS %.1f MiB)",
				    pd[c] / 1024, pss[c] / 1024, rss[c] / 1024), pd[c] < 2048)
			if (sys[c] == "-") row("no syscalls while idle", c, "not measured (strace failed)", 0)
			else row("no syscalls while idle", c, sprintf("%d in %s s", sys[c], syssec[c]), sys[c] == 0)
		}
		for (i = 1; i <= 3; i++) {
			c = cores[i]; t = "savekeeperd " c
			if (("small", t) in sw)
				row("small tree: wall < 50 ms", c, sprintf("%.0f ms", sw["small", t] * 1000), sw["small", t] < 0.05)
			if (!(("large", t) in sw)) {
				if (("small", t) in sw && !quick) row("large tree targets", c, "not measured", 0)
				continue
			}
			tw = sw["large", "tar -czf"]; tc = sc["large", "tar -czf"]; ts = ss["large", "tar -czf"]
			row("large tree: wall <= 1/5 of tar -czf (moonshot 1/10)", c,
				sprintf("1/%.1f%s", tw / sw["large", t], tw / sw["large", t] >= 10 ? ", moonshot met" : ""), sw["large", t] * 5 <= tw)
			row("large tree: CPU <= 1/3 of tar -czf", c, sprintf("1/%.1f", tc / sc["large", t]), sc["large", t] * 3 <= tc)
			row("large tree: output <= 1.01x tar -czf", c, sprintf("%.3fx", ss["large", t] / ts), ss["large", t] <= 1.01 * ts)
			row("large tree: peak RSS < 32 MiB", c, sprintf("%.1f MiB", sr["large", t] / 1024), sr["large", t] < 32768)
			if (!(("compressible", t) in sw)) continue
			tw = sw["compressible", "tar -czf"]; ts = ss["compressible", "tar -czf"]
			row("compressible tree: wall <= 1/5 of tar -czf", c, sprintf("1/%.1f", tw / sw["compressible", t]), sw["compressible", t] * 5 <= tw)
			row("compressible tree: output <= tar -czf", c, sprintf("%.3fx", ss["compressible", t] / ts), ss["compressible", t] <= ts)
			row("compressible tree: peak RSS < 32 MiB", c, sprintf("%.1f MiB", sr["compressible", t] / 1024), sr["compressible", t] < 32768)
		}
	}' "$RES/load.tsv" "$RES/mem.tsv" "$RES/idle.tsv" "$RES/snap.tsv"
}

# ---- which core when -------------------------------------------------------------------------

# Sentences filled from the measured values: one line per question, the numbers that answer it.
which_core() {
	local tree=large
	grep -q "^large	" "$RES/snap.tsv" || tree=small
	awk -F'\t' -v tree="$tree" '
	FILENAME ~ /load.tsv$/ && $3 == "none" && $1 == "echo" { erps[$4] = $6; next }
	FILENAME ~ /load.tsv$/ && $3 == "none" && ($4 == 1 || $4 == 4 || $4 == 8) {
		k = $1 SUBSEP $2; n[k]++; have[$1] = 1
		if ($6 == 0 || $8 == "-") { failed[k] = 1; next }
		if ($8 + 0 > p99[k]) p99[k] = $8 + 0
		ratio[k] += log($6 / erps[$4])
	}
	FILENAME ~ /mem.tsv$/ { rss[$1, $2] = $3 + $8; peak[$1, $2] = ($5 > $3 ? $5 : $3) + $8 }
	FILENAME ~ /snap.tsv$/ && $1 == tree { w[$2] = $3; cpu[$2] = $4; srss[$2] = $5 }
	function best(arr, sfx, lower,   i, c, b) {
		b = ""; for (i = 1; i <= 3; i++) { c = cores[i]; if (!((c sfx) in arr)) continue
			if (b == "" || (lower ? arr[c sfx] < arr[b sfx] : arr[c sfx] > arr[b sfx])) b = c }
		return b
	}
	END {
		split("thread coroutine process", cores, " ")
		for (i = 1; i <= 3; i++) { c = cores[i]
			# A run with no answer counts as 0x and as an unbounded p99.
			if (n[c, "busy"]) {
				busyp99[c] = p99[c, "busy"]; busyr[c] = exp(ratio[c, "busy"] / n[c, "busy"])
				if ((c, "busy") in failed) { busyp99[c] = 1e12; busyr[c] = 0 }
			}
			if (n[c, "idle"]) {
				idler[c] = exp(ratio[c, "idle"] / n[c, "idle"])
				if ((c, "idle") in failed) idler[c] = 0
			}
			if ((c, "idle") in rss) { idlerss[c] = rss[c, "idle"]; hasidle[c] = 1 }
			if ((c, "busy") in peak) busyrss[c] = peak[c, "busy"]
			if (("savekeeperd " c) in w) sw[c] = w["savekeeperd " c]
		}
		if (!length(idler) && !length(sw)) { print "No savekeeperd figures in this run."; exit }
		for (i = 1; i <= 3; i++) { c = cores[i]; if (!(c in idler) && !(c in sw)) continue
			printf "- **%s**: ping %.2fx echo idle and %.2fx while snapshotting (geometric mean over 1, 4, 8 clients); " \
				"p99 %s during snapshots; %.1f MiB RSS idle, %.1f MiB at peak with children; " \
				"%s-tree snapshot %.2f s wall, %.2f s CPU.\n", c, idler[c], busyr[c],
				(busyp99[c] >= 1e12 ? "unbounded (runs without an answer)" : sprintf("%.0f us", busyp99[c])),
				idlerss[c] / 1024, busyrss[c] / 1024, tree, sw[c], cpu["savekeeperd " c]
		}
		printf "\nOn these numbers: the most responsive core while a snapshot runs is **%s** (lowest p99), " \
			"the fastest snapshot is **%s**, and the least memory is **%s**.", best(busyp99, "", 1), best(sw, "", 1),
			best(busyrss, "", 1)
		if ("tar -czf" in w)
			printf " `tar -czf` took %.2f s on the same tree.", w["tar -czf"]
		printf "\n"
		advice()
	}
	# A core "keeps serving" when clients get at least half the idle rate and p99 stays under
	# 1 ms during snapshots; among those the one with the least memory at rest is the default.
	function advice(   i, c, pick) {
		for (i = 1; i <= 3; i++) { c = cores[i]; if (!(c in busyr)) continue
			if (busyr[c] < 0.5)
				printf "\n- **%s** starves the control socket while a snapshot runs (%.2fx echo, p99 %s): " \
					"not for setups where savekeeperctl or a game wrapper must be answered during a backup.\n",
					c, busyr[c], (busyp99[c] >= 1e12 ? "unbounded" : sprintf("%.1f ms", busyp99[c] / 1000))
			else if (busyp99[c] < 1000 && (c in hasidle) && (pick == "" || idlerss[c] < idlerss[pick]))
				pick = c
		}
		if (("process" in busyrss) && ("process" in hasidle) && busyrss["process"] > idlerss["process"])
			printf "\n- **process** holds %.1f MiB at rest and pays for its child (%.1f MiB in all) only while a " \
				"snapshot runs; a crash in the snapshot code costs a job, not the daemon.\n",
				idlerss["process"] / 1024, busyrss["process"] / 1024
		if (pick != "")
			printf "\nBy that rule (keeps serving during snapshots, then least memory at rest) this machine " \
				"would pick **%s**. The shipped default is `core = thread`: it also keeps serving, " \
				"answers with the lowest latency (p99 %s while snapshotting) and starts a job without a " \
				"new process; choose `process` where a crash in a job must not stop the daemon.\n", pick,
				("thread" in busyp99 ? sprintf("%.0f us", busyp99["thread"]) : "n/a")
	}' "$RES/load.tsv" "$RES/mem.tsv" "$RES/snap.tsv"
}

# ---- charts ----------------------------------------------------------------------------------

charts() {
	local term d=$RES/plot
	command -v gnuplot >/dev/null || { echo "(gnuplot missing: no charts)" >&2; return 0; }
	term=png
	gnuplot -e 'set terminal pngcairo' 2>/dev/null && term="pngcairo"
	mkdir -p "$d"
	for mode in idle busy; do
		local series=()
		for s in echo thread coroutine process; do
			awk -F'\t' -v s="$s" -v m="$mode" '$1 == s && $3 == "none" && ($2 == m || s == "echo") { print $4, $6 }' \
				"$RES/load.tsv" >"$d/$s-$mode.dat"
			[[ -s $d/$s-$mode.dat ]] && series+=("\"$d/$s-$mode.dat\" with linespoints lw 2 title \"$s\"")
		done
		((${#series[@]})) || continue
		gnuplot <<-GP
		set terminal $term size 800,500
		set output "$IMGDIR/rps_$mode.png"
		set title "req/s vs clients, savekeeperd $mode$([[ $mode == busy ]] && echo ' (snapshots back to back)'), unpinned; echo = the limit"
		set xlabel "clients"; set ylabel "requests per second"; set logscale x 2; set grid; set key top left
		set yrange [0:*]
		plot $(IFS=,; echo "${series[*]}")
		GP
	done
	awk -F'\t' '$1 != "echo" { r[$1, $2] = ($3 + $8) / 1024; if ($5 + $8 > p[$1]) p[$1] = $5 + $8 }
		END { split("thread coroutine process", k, " ")
		for (i = 1; i <= 3; i++) print k[i], r[k[i], "idle"] + 0, r[k[i], "busy"] + 0, p[k[i]] / 1024 }' \
		"$RES/mem.tsv" >"$d/rss.dat"
	awk -F'\t' -v t="$(grep -q '^large	' "$RES/snap.tsv" && echo large || echo small)" '
		$1 == t { w[$2] = $3; c[$2] = $4 }
		END { n = split("tar -czf|savekeeperd thread|savekeeperd coroutine|savekeeperd process|tar -cf", k, "|")
		for (i = 1; i <= n; i++) if (k[i] in w) { l = k[i]; sub("savekeeperd ", "", l); printf "\"%s\" %s %s\n", l, w[k[i]], c[k[i]] } }' \
		"$RES/snap.tsv" >"$d/snap.dat"
	gnuplot 2>/dev/null <<-GP
	set terminal $term size 800,500
	set style data histograms; set style histogram clustered gap 1; set style fill solid 0.8 border -1
	set grid ytics; set yrange [0:*]; set key top left
	set output "$IMGDIR/rss.png"
	set title "savekeeperd memory per core (daemon + children)"; set ylabel "MiB"
	plot "$d/rss.dat" using 2:xtic(1) title "RSS idle", "" using 3 title "RSS while snapshotting", "" using 4 title "peak (VmHWM + children)"
	set output "$IMGDIR/snapshot.png"
	set title "one snapshot of the $(grep -q '^large	' "$RES/snap.tsv" && echo large || echo small) tree: savekeeperd --once per core vs tar"
	set ylabel "seconds"
	plot "$d/snap.dat" using 2:xtic(1) title "wall", "" using 3 title "CPU (user + sys)"
	GP
}

# ---- the report ------------------------------------------------------------------------------

body() {
	cat <<-EOF
	## Machine and versions

	| | |
	| --- | --- |
	$(awk -F'\t' '{ printf "| %s | %s |\n", $1, $2 }' "$RES/machine.tsv")

	## Commands

	- Generator: \`build/gentree small|large|compressible DIR\` (50 files / 5 MiB, 2000 files / 500 MiB, half incompressible; the large tree's sizes with every file compressible).
	- Snapshot: \`savekeeperd --once --save-dir TREE --game bench --archive-dir SCRATCH --core C\` against
	  \`tar -I 'gzip -6' -cf OUT -C TREE .\` (the same level, 6) and \`tar -cf\` (no compression, the floor),
	  each under \`build/timeit\` (wall clock, rusage CPU and peak RSS); the page cache is warm. Median of the runs.
	- Load: \`build/load --socket SOCK --conns N --duration SEC --cpu-file CGROUP/cpuacct.usage\` ($(meta duration)), one
	  blocking thread per connection sending \`ping\`; against \`build/echo SOCK\` and \`savekeeperd -c CONFIG\`.
	  Idle: nothing else runs. Busy: \`savekeeperctl backup --wait\` in a loop on the $(meta tree) tree (keep_last = 2).
	  Pinning with \`taskset\`: *same* = client and server on CPU 0, *split* = server on CPU 0, client on CPU 1.
	- Memory: VmRSS/VmHWM from \`/proc/PID/status\`, PSS from \`/proc/PID/smaps_rollup\`, children summed.
	- Idle cost: \`strace -c -f -p PID\` of daemons scheduled with interval 1h, after their first snapshot.
	- Server CPU: $(meta "cpu source") (the daemon with its threads and children).
	- Unchanged tick: the daemon's CPU with interval 1s on the tree the last snapshot saved.

	## Targets

	From issues 8, 9 and 15, read from this run's numbers. Each row gives the worst value over the
	client counts measured (1, 4 and 8; a quick run pins only 1 client). Unpinned runs on a 2-vCPU
	VM swing between "client and server share a CPU" and "they do not", so the pinned rows are given
	too. *coroutine* compresses on helper threads (\`compress_threads = 0\`, automatic: one per
	CPU) while the coroutine parks on their eventfd; *coroutine-inline* compresses on the loop
	thread itself (\`compress_threads = 1\`). The tree is compared with \`tar -czf\` in the same
	run: when the machine is shared and \`tar -czf\` takes much longer than its usual 11-12 s, every
	figure of the run is inflated alike.

	$(targets)

	## Which core when?

	$(which_core)

	## Load: requests per second (ratio to the echo server), unpinned

	![req/s idle]($IMGREF/rps_idle.png)
	![req/s busy]($IMGREF/rps_busy.png)

	$(load_matrix none rps)

	## Load: latency p50 / p99 in microseconds, unpinned

	$(load_matrix none lat)

	## Load: server CPU per request in microseconds (ratio to the echo server), unpinned

	Busy rows include the snapshot's own CPU and so say little per request.

	$(load_matrix none cpu)

	## Load: pinned

	Client and server on the same CPU, req/s and p50 / p99 us:

	$(load_matrix same rps)

	$(load_matrix same lat)

	Server on CPU 0, client on CPU 1, req/s and p50 / p99 us:

	$(load_matrix split rps)

	$(load_matrix split lat)

	## Memory, threads and fds

	*fresh*: just started; *busy*: the highest sample (every 0.25 s) while snapshots ran back to back;
	*after*: when the busy phase ended; *idle*: a scheduled daemon after its first (small) snapshot.

	![RSS per core]($IMGREF/rss.png)

	$(mem_table)

	## Snapshot against tar

	![snapshot time]($IMGREF/snapshot.png)

	$(snap_table)

	## Incremental snapshot: 1% of the files rewritten

	$(incr_table)

	## Unchanged scheduled tick

	$(tick_table)

	## Idle cost

	$(idle_table)

	## Ludusavi's manifest

	Issue 18's target: reading the ~18 MB manifest takes under 1 s and 64 MiB. A synthetic manifest of
	the same size and shape (\`build/bench_manifest gen\`: invented titles, files with \`when\` and tags,
	installDir, registry, Steam ids, aliases) is read by \`build/bench_manifest parse\` (the reader, every path
	expanded) and by \`savekeeperctl add\` looking for a title in a home without Steam (the whole file
	streamed, nothing kept), each under \`build/timeit\`.

	$(manifest_table)

	## Steam sessions

	With \`sessions = steam\` and Steam running, the daemon reads the command line of each of the
	user's processes every 3 s (\`build/sessions\`: the same function, 200 looks per run); with Steam
	not running it does nothing at all (see the idle cost above, and \`tests/integration/48-sessions.sh\`).

	$(sessions_table)

	## Copies to a remote

	The copy's wall time (\`last_copy_us\` in status: from when the copy was due, a wait for the
	daemon's \`rclone rcd\` to listen included, through the queue read, the archive and its manifest
	going up at once through \`operations/copyfile\` to \`.partial\` names, their two
	\`operations/movefile\` renames, to the journal writes) against a plain \`rclone copyto\` of the
	same archive to the same remote, at normal priority and at the copy job's (nice 19, idle I/O
	class), in the same run: rclone's local backend and \`rclone serve webdav\` on loopback,
	incompressible archives of 5 and 50 MiB, 5 rounds each with a fresh daemon (quick: 5 MiB, 1
	round). Round 0 starts the daemon's rcd as its snapshot begins; the later rounds come within
	its 30 s linger and reuse it, as a burst of archives does.

	$(remote_table)

	## Every load run

	$(load_full)
	EOF
}

charts
{
	cat bench/intro.md
	echo
	echo "Generated by \`make bench$( ((QUICK)) && echo -quick)\` on $(meta date) in $(meta elapsed)."
	echo
	body
} >"$MD"
# The same report on stdout, without the chart links.
grep -v '^!\[' "$MD" | sed -n '/^## Machine/,$p'
echo
echo "report: $MD"
