//! The Modbus half of the simulator: one tokio-modbus TCP server per Modbus
//! profile found in the devices directory (`[modbus]` table), listening on
//! 127.0.0.1 at `--modbus-port-base + i` (noise, water meter, lighting
//! profiles first, then the others by file name),
//! answering for unit ids 1..=scale. Each unit's register image is written
//! from the class model every second by encoding the canonical values
//! through the profile's own register map (the inverse of greengate's
//! decoding: `raw = (value / unit_factor - offset) / scale`, then the type
//! and byte order), so the simulator serves exactly what the profile reads.

use std::collections::{BTreeMap, HashMap};
use std::future::{ready, Ready};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fastrand::Rng;
use tokio::net::TcpListener;
use tokio_modbus::server::tcp::{accept_tcp_connection, Server};
use tokio_modbus::server::Service;
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_util::sync::CancellationToken;

use crate::sim::model::{get, Light, Noise, Values, Water, V};
use crate::sim::Sim;

use super::regmap::{self, Field};
pub use super::regmap::{load_profiles, Profile, Table};

/// One unit's registers and bits; unset addresses read as 0.
#[derive(Default)]
pub struct Image {
    words: HashMap<(Table, u16), u16>,
    bits: HashMap<(Table, u16), bool>,
}

impl Image {
    pub fn word(&self, t: Table, a: u16) -> u16 {
        self.words.get(&(t, a)).copied().unwrap_or(0)
    }
    pub fn bit(&self, t: Table, a: u16) -> bool {
        self.bits.get(&(t, a)).copied().unwrap_or(false)
    }
}

/// The register image of one unit holding `v` under the register map `fields`.
#[cfg(test)]
pub fn image_of(fields: &[Field], v: &Values) -> Image {
    let mut img = Image::default();
    write_image(&mut img, fields, v);
    img
}

type Images = Arc<Mutex<BTreeMap<u8, Image>>>;

#[derive(Clone)]
struct Svc {
    images: Images,
    sim: Arc<Sim>,
    endpoint: usize,
}

impl Svc {
    fn answer(&self, req: SlaveRequest<'static>) -> Result<Response, ExceptionCode> {
        let Ok(mut images) = self.images.lock() else {
            return Err(ExceptionCode::ServerDeviceFailure);
        };
        let Some(img) = images.get_mut(&req.slave) else {
            return Err(ExceptionCode::GatewayTargetDevice);
        };
        let range = |a: u16, q: u16| -> Result<std::ops::Range<u32>, ExceptionCode> {
            if q == 0 || u32::from(a) + u32::from(q) > 65536 {
                return Err(ExceptionCode::IllegalDataAddress);
            }
            Ok(u32::from(a)..u32::from(a) + u32::from(q))
        };
        let words = |img: &Image, t: Table, a, q| -> Result<Vec<u16>, ExceptionCode> {
            Ok(range(a, q)?.map(|i| img.word(t, i as u16)).collect())
        };
        let bits = |img: &Image, t: Table, a, q| -> Result<Vec<bool>, ExceptionCode> {
            Ok(range(a, q)?.map(|i| img.bit(t, i as u16)).collect())
        };
        self.sim.stats.modbus_requests[self.endpoint].fetch_add(1, Ordering::Relaxed);
        match req.request {
            Request::ReadHoldingRegisters(a, q) => Ok(Response::ReadHoldingRegisters(words(
                img,
                Table::Holding,
                a,
                q,
            )?)),
            Request::ReadInputRegisters(a, q) => Ok(Response::ReadInputRegisters(words(
                img,
                Table::Input,
                a,
                q,
            )?)),
            Request::ReadCoils(a, q) => Ok(Response::ReadCoils(bits(img, Table::Coil, a, q)?)),
            Request::ReadDiscreteInputs(a, q) => Ok(Response::ReadDiscreteInputs(bits(
                img,
                Table::DiscreteInput,
                a,
                q,
            )?)),
            Request::WriteSingleRegister(a, v) => {
                img.words.insert((Table::Holding, a), v);
                Ok(Response::WriteSingleRegister(a, v))
            }
            Request::WriteSingleCoil(a, v) => {
                img.bits.insert((Table::Coil, a), v);
                Ok(Response::WriteSingleCoil(a, v))
            }
            _ => Err(ExceptionCode::IllegalFunction),
        }
    }
}

impl Service for Svc {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Ready<Result<Response, ExceptionCode>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        ready(self.answer(req))
    }
}

/// The class model behind one Modbus unit.
pub enum Model {
    Noise(Noise),
    Water(Water),
    Light(Light),
}

impl Model {
    pub fn new(class: &str, rng: &mut Rng, leak: bool) -> Model {
        match class {
            "noise" => Model::Noise(Noise::new(rng)),
            "water_meter" | "water" => Model::Water(Water::new(rng, leak)),
            // A lighting cabinet's energy meter: a circuit of 30 lamps.
            _ => Model::Light(Light::new(rng, 30)),
        }
    }

    pub fn step(&mut self, rng: &mut Rng, now: chrono::DateTime<chrono::Utc>, dt: f64) -> Values {
        let hour = crate::sim::local_hour(now);
        let mut v = match self {
            Model::Noise(m) => m.step(rng, hour, dt),
            Model::Water(m) => m.step(rng, hour, dt),
            Model::Light(m) => m.step(rng, hour, crate::sim::local_day_of_year(now), dt),
        };
        // Values meters report beside the canonical ones.
        v.push(("frequency_hz", V::F(49.95 + rng.f64() * 0.1)));
        v.push(("power_factor", V::F(0.95)));
        v
    }
}

fn write_image(img: &mut Image, fields: &[Field], v: &Values) {
    for f in fields {
        let x = get(v, &f.name).cloned().unwrap_or(V::F(0.0));
        match f.encode(&x) {
            regmap::Encoded::Bit(b) => {
                img.bits.insert((f.table, f.address), b);
            }
            regmap::Encoded::RegisterBit(bit, b) => {
                let w = img.words.entry((f.table, f.address)).or_insert(0);
                if b {
                    *w |= 1 << bit;
                } else {
                    *w &= !(1 << bit);
                }
            }
            regmap::Encoded::Words(ws) => {
                for (i, w) in ws.into_iter().enumerate() {
                    img.words
                        .insert((f.table, f.address.wrapping_add(i as u16)), w);
                }
            }
        }
    }
}

/// Starts one server per profile; returns the profiles with their ports
/// (for the status line), or an error naming what could not be started.
pub async fn start(
    sim: Arc<Sim>,
    dir: &Path,
    bind: &str,
    base_port: u16,
    stop: CancellationToken,
) -> Result<Vec<(Profile, u16)>, String> {
    let profiles = load_profiles(dir)?;
    let mut out = Vec::new();
    for (i, p) in profiles.into_iter().enumerate() {
        if i >= crate::sim::MAX_ENDPOINTS {
            sim.note(format_args!(
                "more than {} Modbus profiles; skipping {}",
                crate::sim::MAX_ENDPOINTS,
                p.name
            ));
            continue;
        }
        // Port 0: every server on a port of its own the system picks.
        let port = match base_port {
            0 => 0,
            b => b.checked_add(i as u16).ok_or_else(|| {
                format!(
                    "--modbus-bind: no port left for profile {} above {b}",
                    p.name
                )
            })?,
        };
        let listener = TcpListener::bind((bind, port)).await.map_err(|e| {
            format!(
                "Modbus server for profile {} cannot listen on {bind}:{port}: {e}",
                p.name
            )
        })?;
        let port = listener.local_addr().map_or(port, |a| a.port());
        let images: Images = Arc::new(Mutex::new(BTreeMap::new()));
        let svc = Svc {
            images: images.clone(),
            sim: sim.clone(),
            endpoint: i,
        };
        tokio::spawn(serve(listener, svc, stop.clone(), p.name.clone()));
        tokio::spawn(update(sim.clone(), p.clone(), images, i, stop.clone()));
        out.push((p, port));
    }
    Ok(out)
}

async fn serve(listener: TcpListener, svc: Svc, stop: CancellationToken, name: String) {
    let server = Server::new(listener);
    let on_connected = |stream, addr| {
        let svc = svc.clone();
        async move { accept_tcp_connection(stream, addr, move |_| Ok(Some(svc.clone()))) }
    };
    // A client that hangs up mid-request only ends its own connection task.
    let quiet = svc.sim.quiet;
    let on_error = move |e: std::io::Error| {
        if !quiet {
            eprintln!("simulate: Modbus connection closed: {e}");
        }
    };
    tokio::select! {
        _ = stop.cancelled() => {}
        r = server.serve(&on_connected, on_error) => {
            if let Err(e) = r {
                svc.sim.note(format_args!("Modbus server {name} stopped: {e}"));
            }
        }
    }
}

async fn update(
    sim: Arc<Sim>,
    p: Profile,
    images: Images,
    endpoint: usize,
    stop: CancellationToken,
) {
    let mut units: Vec<(u8, Rng, Model)> = (1..=sim.args.scale.min(247))
        .map(|u| {
            let mut rng = Rng::with_seed(sim.seed ^ ((endpoint as u64) << 32 | u as u64));
            let model = Model::new(&p.class, &mut rng, sim.args.leak && u == 1);
            (u as u8, rng, model)
        })
        .collect();
    let mut last = sim.clock.now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = sim.clock.now();
        let dt = ((now - last).num_milliseconds() as f64 / 1000.0).max(1.0);
        last = now;
        let Ok(mut imgs) = images.lock() else { return };
        for (unit, rng, model) in &mut units {
            let v = model.step(rng, now, dt);
            write_image(imgs.entry(*unit).or_default(), &p.fields, &v);
        }
    }
}
