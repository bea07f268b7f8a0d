//! The MQTT half of the simulator: one task per device publishing its
//! class's payload at the configured rate (QoS 1), and one task owning the
//! rumqttc event loop. Devices only queue requests; the event loop does all
//! I/O and reconnects with a capped backoff when the broker goes away, so a
//! closed connection never ends (or panics) the simulation.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fastrand::Rng;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use tokio_util::sync::CancellationToken;

use crate::sim::model::{Bay, Light, MasterWater, Noise, Security, Water};
use crate::sim::payload::{self, device_id, topic, Class, CLASSES};
use crate::sim::Sim;

enum Model {
    Noise(Noise),
    Water(Water),
    /// `water-01`: the district master meter in front of the other meters.
    Master(MasterWater),
    Light(Light),
    Bay(Bay),
    Security(Security),
}

/// Starts every MQTT device and the event loop; returns the event-loop
/// task, which ends after `stop` once the in-flight messages are acked (or
/// a short grace has passed).
pub(super) fn start(sim: Arc<Sim>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    let client_id = format!("gg-sim-{}-{:08x}", std::process::id(), fastrand::u32(..));
    let mut opts = MqttOptions::new(client_id, sim.mqtt_host.clone(), sim.mqtt_port);
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_clean_session(true);
    opts.set_inflight(100);
    let (client, eventloop) = AsyncClient::new(opts, 1000);
    let devices = CancellationToken::new();
    let mut tasks = Vec::new();
    for class in CLASSES {
        for n in 1..=sim.args.scale {
            let seed = sim.seed.wrapping_add((class.index() * 100_003 + n) as u64);
            tasks.push(tokio::spawn(device(
                sim.clone(),
                client.clone(),
                class,
                n,
                seed,
                devices.clone(),
            )));
        }
    }
    tokio::spawn(drive(sim, eventloop, client, stop, devices, tasks))
}

async fn device(
    sim: Arc<Sim>,
    client: AsyncClient,
    class: Class,
    n: usize,
    seed: u64,
    stop: CancellationToken,
) {
    let mut rng = Rng::with_seed(seed);
    let id = device_id(class, n);
    let topic = topic(&sim.args.community, class, n, &id);
    let mut period = Duration::from_secs_f64(1.0 / sim.args.rate);
    if class == Class::Security {
        period = period.min(sim.heartbeat);
    }
    let start = sim.clock.now();
    let mut model = match class {
        Class::Noise => Model::Noise(Noise::new(&mut rng)),
        Class::Water if n == 1 => Model::Master(MasterWater::new(&mut rng, sim.args.leak)),
        Class::Water => Model::Water(Water::new(&mut rng, sim.args.leak && n == 2)),
        Class::Lighting => Model::Light(Light::new(&mut rng, 1)),
        // The first bay of every ten is a fire lane.
        Class::Parking => Model::Bay(Bay::new(
            &mut rng,
            n % 10 == 1,
            crate::sim::local_hour(start),
        )),
        Class::Security => Model::Security(Security::new(&id)),
    };
    // Stagger devices over one period so the broker sees a steady stream.
    tokio::select! {
        _ = stop.cancelled() => return,
        _ = tokio::time::sleep(period.mul_f64(rng.f64())) => {}
    }
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = start
        - chrono::Duration::milliseconds((period.as_secs_f64() * sim.args.accel * 1000.0) as i64);
    let mut last_sent: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = sim.clock.now();
        let dt = (now - last).num_milliseconds() as f64 / 1000.0;
        last = now;
        let hour = crate::sim::local_hour(now);
        let one = |v| vec![payload::payload(class, &id, n, &[(now, v)])];
        let payloads = match &mut model {
            Model::Noise(m) => {
                let v = m.step(&mut rng, hour, dt);
                if let Some(laeq) = crate::sim::model::get(&v, "laeq") {
                    if let Ok(mut latest) = sim.stats.latest_laeq.lock() {
                        latest.insert(id.clone(), laeq.as_f64());
                    }
                }
                one(v)
            }
            // A meter gateway forwards a batch: here two readings per message.
            Model::Water(m) => {
                let mid = now - chrono::Duration::milliseconds((dt * 500.0) as i64);
                let first = (mid, m.step(&mut rng, crate::sim::local_hour(mid), dt / 2.0));
                let mut used = m.last_m3();
                let second = (now, m.step(&mut rng, hour, dt / 2.0));
                used += m.last_m3();
                if let Ok(mut d) = sim.stats.district_m3.lock() {
                    *d += used;
                }
                vec![payload::payload(class, &id, n, &[first, second])]
            }
            Model::Master(m) => {
                let delivered = sim
                    .stats
                    .district_m3
                    .lock()
                    .map(|mut d| std::mem::take(&mut *d))
                    .unwrap_or(0.0);
                one(m.step(delivered, dt))
            }
            Model::Light(m) => one(m.step(&mut rng, hour, crate::sim::local_day_of_year(now), dt)),
            Model::Bay(m) => one(m.step(&mut rng, hour, dt)),
            Model::Security(m) => {
                let mut out = Vec::new();
                if let Some(e) = m.step(&mut rng, dt) {
                    out.push(payload::security(now, e.event, Some(&e)));
                } else if last_sent.map_or(true, |t| {
                    t.elapsed() + Duration::from_millis(50) >= sim.heartbeat
                }) {
                    out.push(payload::security(now, "heartbeat", None));
                }
                out
            }
        };
        for p in payloads {
            match client
                .publish(topic.clone(), QoS::AtLeastOnce, false, p.to_string())
                .await
            {
                Ok(()) => {
                    sim.stats.published[class.index()].fetch_add(1, Ordering::Relaxed);
                    last_sent = Some(Instant::now());
                }
                // Only when the event loop is gone, i.e. shutting down.
                Err(_) => return,
            }
        }
    }
}

async fn drive(
    sim: Arc<Sim>,
    mut eventloop: EventLoop,
    client: AsyncClient,
    stop: CancellationToken,
    devices: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
) {
    const MIN: Duration = Duration::from_millis(250);
    const MAX: Duration = Duration::from_secs(5);
    let mut backoff = MIN;
    let mut grace: Option<tokio::time::Instant> = None;
    loop {
        if grace.is_none() && stop.is_cancelled() {
            devices.cancel();
            grace = Some(tokio::time::Instant::now() + Duration::from_secs(3));
        }
        if let Some(g) = grace {
            if sim.stats.acked.load(Ordering::Relaxed) >= sim.stats.total_published()
                || tokio::time::Instant::now() >= g
            {
                break;
            }
        }
        let ev = tokio::select! {
            _ = stop.cancelled(), if grace.is_none() => continue,
            _ = tokio::time::sleep(Duration::from_millis(200)), if grace.is_some() => continue,
            ev = eventloop.poll() => ev,
        };
        match ev {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = MIN;
                sim.note(format_args!(
                    "connected to MQTT broker {}:{}",
                    sim.mqtt_host, sim.mqtt_port
                ));
            }
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                sim.stats.acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => {
                sim.stats.mqtt_errors.fetch_add(1, Ordering::Relaxed);
                sim.note(format_args!(
                    "MQTT connection failed ({e}); retrying in {backoff:?}"
                ));
                let wait = backoff.mul_f64(0.5 + fastrand::f64() * 0.5);
                if grace.is_some() {
                    break;
                }
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
                backoff = (backoff * 2).min(MAX);
            }
        }
    }
    devices.cancel();
    let _ = client.try_disconnect();
    for t in tasks {
        let _ = t.await;
    }
}
