//! The meter-bus benchmark (issue 13): 32 DL/T 645 meters, 4 identifiers
//! each, on one 2400-baud bus (a socat pty, paced at 2400 baud 8E1 by the
//! simulator), polled back to back. Prints the achieved cycle time against
//! the bus's wire-time limit (every frame byte × 11 bits ÷ 2400 baud, plus
//! the configured inter-request gaps) as a ratio. Ignored by default: run
//! with `scripts/bench-meters.sh`.

use std::time::Duration;

use crate::common;
use crate::meters::{meters_config, shipped, start};
use crate::meters_support::*;

const METERS: usize = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn cycle_of_32_meters_on_a_2400_baud_bus() {
    let dir = tempfile::tempdir().unwrap();
    let (_socat, a, b) = common::socat::pty_pair(dir.path());
    let sims: Vec<Sim> = (1..=METERS)
        .map(|n| {
            dlt(
                &format!("{n:012}"),
                single_phase(123_456, 2201, -1500, 3300),
                Fault::None,
            )
        })
        .collect();
    let mut bus = Bus::new(sims);
    bus.baud = Some(2400);
    let _sim = serve_serial(&a, bus.clone());
    let (preamble, gap_ms) = (4usize, 20u64);
    let mut text = format!(
        "[[buses]]\nname = \"bench\"\nserial = {{ path = \"{}\" }}\ntimeout = \"1500ms\"\ninter_request_delay = \"{gap_ms}ms\"\npreamble = {preamble}\n",
        b.display()
    );
    for n in 1..=METERS {
        text += &format!(
            "[[buses.meters]]\nid = \"em-{n}\"\naddress = \"{n:012}\"\nprofile = \"dlt645-single-phase\"\npoll_interval = \"10ms\"\ngroup_intervals = {{ energy = \"10ms\" }}\n"
        );
    }
    let run = start(meters_config(&text), shipped());
    let per_cycle = METERS * 4;
    let cycles = 2;
    loop {
        if bus.arrivals.lock().unwrap().len() > per_cycle * (cycles + 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = run.stop().await;
    let t = bus.arrivals.lock().unwrap().clone();
    // From the first request of cycle 2 to the first of cycle 2 + cycles.
    let achieved = (t[per_cycle * (1 + cycles)] - t[per_cycle]).as_secs_f64() / cycles as f64;
    // Wire bytes per meter: 4 requests (preamble + 16) and 4 replies
    // (2 FE + 12 + 4 DI + 4, 2, 3, 3 value bytes).
    let requests = 4 * (preamble + 16);
    let replies = [4usize, 2, 3, 3]
        .iter()
        .map(|v| 2 + 12 + 4 + v)
        .sum::<usize>();
    let bytes = METERS * (requests + replies);
    let wire = bytes as f64 * 11.0 / 2400.0;
    let gaps = per_cycle as f64 * gap_ms as f64 / 1000.0;
    let errors = greengate::metrics::registry().counter_total("meter_request_errors_total");
    println!(
        "meters_bench: meters={METERS} identifiers_per_cycle={per_cycle} bytes_per_cycle={bytes} \
         wire_s={wire:.2} gaps_s={gaps:.2} limit_s={:.2} achieved_s={achieved:.2} ratio={:.3} \
         ratio_wire_only={:.3} errors={errors} readings={}",
        wire + gaps,
        achieved / (wire + gaps),
        achieved / wire,
        out.readings().len()
    );
    assert_eq!(errors, 0);
}
