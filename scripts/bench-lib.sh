# Helpers shared by the benchmark scripts (sourced, not run).
# A port that was free a moment ago on 127.0.0.1.
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
# Wall time in seconds with nanoseconds.
now() { date +%s.%N; }
# User + system CPU of a process in clock ticks (0 once it is gone).
cpu_ticks() { local t; t=$(awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null); echo "${t:-0}"; }
# Peak RSS (VmHWM) of a process in MB (0 once it is gone).
hwm_mb() { local m; m=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status" 2>/dev/null); echo "${m:-0}"; }
