//! The fleet benchmark of issue 3: many simulated devices with 30 registers
//! each, polled every second over loopback TCP. Ignored by default; run it
//! with `scripts/bench-modbus.sh` (which sets the sizes). The simulated
//! devices run in a child process (this test binary, re-executed), so the
//! CPU and memory figures are greengate's poller alone.

use crate::modbus_support;

use std::io::Write;
use std::time::Duration;

use greengate::sources::modbus::config::DeviceConfig;
use greengate::sources::modbus::device::Device;
use modbus_support::*;

const SIM_ENV: &str = "GG_MODBUS_SIM_FILE";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// 30 fields: 20 in holding registers (u16 and f32 with 1-register holes),
/// 10 in input registers (u16, 3-register holes).
fn bench_profile() -> String {
    let mut s = String::new();
    for i in 0..20 {
        let kind = if i % 2 == 0 { "u16" } else { "f32" };
        s += &format!("[[fields]]\nname = \"h{i}\"\ntable = \"holding\"\naddress = {}\ntype = \"{kind}\"\nscale = 0.1\n", i * 3);
    }
    for i in 0..10 {
        s += &format!(
            "[[fields]]\nname = \"i{i}\"\ntable = \"input\"\naddress = {}\n",
            i * 4
        );
    }
    s
}

fn sim_bank(units: u8) -> Bank {
    let bank = Bank::default();
    for u in 1..=units {
        bank.holding(u, 0, &(0..60).map(|i| 100 + i).collect::<Vec<u16>>());
        bank.input(u, 0, &(0..40).map(|i| 200 + i).collect::<Vec<u16>>());
    }
    bank
}

/// The device simulator (child process): serves `GG_BENCH_ENDPOINTS` TCP
/// endpoints with `GG_BENCH_UNITS` units each, writes their ports to a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
#[ignore]
async fn sim_server() {
    // Run alone (`--ignored`) it has nothing to do: say so, never pass quietly.
    let file = std::env::var(SIM_ENV).unwrap_or_else(|_| {
        panic!("{SIM_ENV} is not set: this is the device simulator the fleet benchmark below starts (scripts/bench-modbus.sh)")
    });
    let (endpoints, units) = (
        env("GG_BENCH_ENDPOINTS", 50),
        env("GG_BENCH_UNITS", 10) as u8,
    );
    let mut devices = Vec::new();
    let mut ports = String::new();
    for _ in 0..endpoints {
        let d = TcpDevice::start(sim_bank(units)).await;
        ports += &format!("{}\n", d.addr);
        devices.push(d);
    }
    std::fs::write(format!("{file}.tmp"), ports).unwrap();
    std::fs::rename(format!("{file}.tmp"), &file).unwrap();
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

fn proc_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn proc_status_kb(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn fleet_of_devices_polled_every_second() {
    let (endpoints, units, secs) = (
        env("GG_BENCH_ENDPOINTS", 50),
        env("GG_BENCH_UNITS", 10),
        env("GG_BENCH_SECS", 30),
    );
    let dir = tempfile::tempdir().unwrap();
    let ports_file = dir.path().join("ports");
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "modbus_bench::sim_server",
            "--nocapture",
        ])
        .env(SIM_ENV, &ports_file)
        .env("GG_BENCH_ENDPOINTS", endpoints.to_string())
        .env("GG_BENCH_UNITS", units.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    while !ports_file.exists() {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("simulator exited: {st}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _child = Kill(child);
    let ports = std::fs::read_to_string(&ports_file).unwrap();
    let mut cfg = String::new();
    for (e, addr) in ports.lines().enumerate() {
        cfg += &format!(
            "[[endpoints]]\nname = \"bench-{e}\"\naddress = \"{addr}\"\ntimeout = \"1s\"\n"
        );
        for u in 1..=units {
            cfg += &format!("[[endpoints.devices]]\nid = \"b{e}-{u}\"\nunit = {u}\nprofile = \"bench30\"\npoll_interval = \"1s\"\n");
        }
    }
    let profile = profile("bench30", "bench", &bench_profile());
    let naive = {
        let d = DeviceConfig {
            coalesce: false,
            ..DeviceConfig::default()
        };
        let b = greengate::backoff::Backoff::new(Duration::from_secs(1), Duration::from_secs(2));
        let one = Device::new(&d, &profile, b.clone(), tokio::time::Instant::now(), 0.0)
            .unwrap()
            .requests_per_cycle();
        let co = Device::new(
            &DeviceConfig::default(),
            &profile,
            b,
            tokio::time::Instant::now(),
            0.0,
        )
        .unwrap()
        .requests_per_cycle();
        (one, co)
    };
    let devices = endpoints * units;
    let (rss0, cpu0) = (proc_status_kb("VmRSS:"), proc_cpu_ticks());
    let t0 = std::time::Instant::now();
    // Count readings and drop them, as the pipeline would hand them on.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<greengate::pipeline::SourceBatch>(1024);
    let counter = tokio::spawn(async move {
        let mut n = 0usize;
        while let Some(b) = rx.recv().await {
            n += b
                .readings
                .iter()
                .filter(|r| r.measurement == "bench")
                .count();
        }
        n
    });
    let shutdown = tokio_util::sync::CancellationToken::new();
    let source = tokio::spawn(greengate::sources::modbus::run(
        modbus_config(&cfg),
        profile_set(vec![profile]),
        tx,
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let (cpu1, wall) = (proc_cpu_ticks(), t0.elapsed());
    let rss1 = proc_status_kb("VmRSS:");
    shutdown.cancel();
    source.await.unwrap();
    let readings = counter.await.unwrap();
    let reg = greengate::metrics::registry();
    let requests = reg.counter_total("modbus_requests_total");
    let errors = reg.counter_total("modbus_request_errors_total");
    let late_us = (0..endpoints)
        .map(|e| {
            reg.gauge(
                "modbus_poll_lateness_max_microseconds",
                "",
                &[("endpoint", &format!("bench-{e}"))],
            )
            .get()
        })
        .max()
        .unwrap_or(0);
    let cpu_pct = (cpu1 - cpu0) as f64 / 100.0 / wall.as_secs_f64() * 100.0;
    let report = format!(
        "devices={devices} endpoints={endpoints} units_per_endpoint={units} registers_per_device=30 interval=1s run={:.1}s\n\
         requests_per_cycle={} (one-per-field: {}) requests_total={requests} errors={errors} readings={readings}\n\
         cpu={cpu_pct:.1}% of one core, rss_before={rss0} kB rss_after={rss1} kB\n\
         worst_poll_lateness={:.1} ms\n",
        wall.as_secs_f64(),
        naive.1 as u64 * devices,
        naive.0 as u64 * devices,
        late_us as f64 / 1000.0
    );
    print!("{report}");
    let _ = std::io::stdout().flush();
    assert_eq!(errors, 0);
    assert!(readings as u64 >= devices * (secs - 2));
}
