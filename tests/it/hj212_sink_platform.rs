//! A test environmental platform written from HJ 212-2017's byte layout,
//! independent of greengate's codec: its own CRC (the standard's: register
//! 0xFFFF, `crc = (crc >> 8) ^ byte`, 8 rounds with 0xA001), its own frame
//! and segment parsing. It records every frame greengate sends, answers
//! uploads with 9014 the way real platforms do (the upload's ST and
//! Flag 5), and can stay silent, drop the connection or send commands.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// The standard's CRC of a data segment.
pub fn crc(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xffff;
    for b in data {
        crc = (crc >> 8) ^ u16::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xa001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// `##` + 4-digit length + segment + CRC (upper-case hex) + CR LF.
pub fn frame(seg: &str) -> Vec<u8> {
    format!("##{:04}{}{:04X}\r\n", seg.len(), seg, crc(seg.as_bytes())).into_bytes()
}

/// One received data segment.
#[derive(Debug, Clone)]
pub struct Seg {
    pub text: String,
    pub head: BTreeMap<String, String>,
    /// Between `CP=&&` and the closing `&&`.
    pub cp: String,
    /// The connection it came on (1 = the first).
    pub conn: usize,
}

impl Seg {
    fn parse(text: &str, conn: usize) -> Seg {
        let (head, cp) = match text.find("CP=&&") {
            Some(at) => {
                let rest = &text[at + 5..];
                let end = rest.rfind("&&").expect("CP closed by &&");
                (&text[..at], rest[..end].to_string())
            }
            None => (text, String::new()),
        };
        let head = head
            .split(';')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Seg {
            text: text.to_string(),
            head,
            cp,
            conn,
        }
    }

    pub fn get(&self, k: &str) -> &str {
        self.head.get(k).map_or("", String::as_str)
    }

    pub fn cn(&self) -> u32 {
        self.get("CN").parse().unwrap_or(0)
    }

    /// `key=value` of every CP field (`;` items, `,` fields).
    pub fn cp_fields(&self) -> BTreeMap<String, String> {
        self.cp
            .split(';')
            .flat_map(|i| i.split(','))
            .filter_map(|f| f.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect()
    }
}

/// What the platform does with the n-th upload frame (from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Answer,
    Ignore,
    /// Close the connection without answering.
    Close,
}

type Decide = Box<dyn Fn(usize) -> Action + Send + Sync>;

#[derive(Default)]
pub struct State {
    /// Every upload frame (2011/2031/2051/2061), in arrival order.
    pub uploads: Vec<Seg>,
    /// The uploads answered with 9014.
    pub answered: Vec<Seg>,
    /// Every other segment greengate sent (replies to commands).
    pub replies: Vec<Seg>,
    pub connections: usize,
    /// Frames whose CRC or layout was wrong.
    pub bad_frames: Vec<String>,
    outgoing: VecDeque<Vec<u8>>,
}

pub struct Platform {
    pub state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Platform {
    /// Listens on 127.0.0.1:`port`; `state` carries over from an earlier
    /// platform on the same port (down, then up again).
    pub async fn start(port: u16, state: Arc<Mutex<State>>, decide: Decide) -> Platform {
        let l = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        let notify = Arc::new(Notify::new());
        let (st, n) = (state.clone(), notify.clone());
        let decide = Arc::new(decide);
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = l.accept().await {
                let conn = {
                    let mut s = st.lock().unwrap();
                    s.connections += 1;
                    s.connections
                };
                // One connection at a time, like a platform's per-station session.
                serve(sock, conn, &st, &n, &decide).await;
            }
        });
        Platform {
            state,
            notify,
            task,
        }
    }

    /// Sends a command segment on the current (or next) connection.
    pub fn command(&self, seg: &str) {
        self.raw(frame(seg));
    }

    /// Sends bytes as they are (garbage, a damaged frame).
    pub fn raw(&self, bytes: Vec<u8>) {
        self.state.lock().unwrap().outgoing.push_back(bytes);
        self.notify.notify_one();
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

async fn serve(
    mut sock: tokio::net::TcpStream,
    conn: usize,
    st: &Arc<Mutex<State>>,
    n: &Arc<Notify>,
    decide: &Decide,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let pending: Vec<Vec<u8>> = st.lock().unwrap().outgoing.drain(..).collect();
        for c in pending {
            if sock.write_all(&c).await.is_err() {
                return;
            }
        }
        let got = tokio::select! {
            _ = n.notified() => continue,
            r = sock.read(&mut chunk) => r,
        };
        match got {
            Ok(0) | Err(_) => return,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
        while let Some(seg) = take_frame(&mut buf, st) {
            let seg = Seg::parse(&seg, conn);
            if !matches!(seg.cn(), 2011 | 2031 | 2051 | 2061) {
                st.lock().unwrap().replies.push(seg);
                continue;
            }
            let nth = {
                let mut s = st.lock().unwrap();
                s.uploads.push(seg.clone());
                s.uploads.len() - 1
            };
            match decide(nth) {
                Action::Answer => {
                    // A real platform's answer: the upload's ST and Flag 5.
                    let a = format!(
                        "QN={};ST={};CN=9014;PW={};MN={};Flag=5;CP=&&&&",
                        seg.get("QN"),
                        seg.get("ST"),
                        seg.get("PW"),
                        seg.get("MN")
                    );
                    st.lock().unwrap().answered.push(seg);
                    if sock.write_all(&frame(&a)).await.is_err() {
                        return;
                    }
                }
                Action::Ignore => {}
                Action::Close => return,
            }
        }
    }
}

/// The first whole frame of `buf` (checked), removed from it.
fn take_frame(buf: &mut Vec<u8>, st: &Arc<Mutex<State>>) -> Option<String> {
    loop {
        if buf.len() < 6 {
            return None;
        }
        if &buf[..2] != b"##" {
            st.lock()
                .unwrap()
                .bad_frames
                .push(String::from_utf8_lossy(buf).into());
            buf.clear();
            return None;
        }
        let len: usize = std::str::from_utf8(&buf[2..6]).ok()?.parse().ok()?;
        let total = 6 + len + 4 + 2;
        if buf.len() < total {
            return None;
        }
        let whole: Vec<u8> = buf.drain(..total).collect();
        let seg = &whole[6..6 + len];
        let want = format!("{:04X}", crc(seg));
        let ok = &whole[6 + len..6 + len + 4] == want.as_bytes() && whole.ends_with(b"\r\n");
        let text = String::from_utf8_lossy(seg).into_owned();
        if ok {
            return Some(text);
        }
        st.lock().unwrap().bad_frames.push(text);
    }
}
