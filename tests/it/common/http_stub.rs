//! A tiny HTTP/1.1 server for the answers a real store will not give on
//! demand (429 with Retry-After, 413, 503). Everything else is tested
//! against real stores. It records every request (body gunzipped) with the
//! status it answered, on a free loopback port, until dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub path_and_query: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body, decompressed when it was gzip-encoded.
    pub body: Vec<u8>,
    pub gzipped: bool,
    pub at: Instant,
    /// The status the stub answered.
    pub status: u16,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.body)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// The stub's answer.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn body(mut self, b: &str) -> Reply {
        self.body = b.into();
        self
    }
}

type Handler = dyn Fn(&Request, usize) -> Reply + Send + Sync;

pub struct HttpStub {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

impl HttpStub {
    /// Starts the stub; `handler(request, index)` decides each answer
    /// (`index` counts requests from 0).
    pub fn start(handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> HttpStub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind stub");
        let port = listener.local_addr().expect("stub addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let counter = Arc::new(AtomicUsize::new(0));
        let (reqs, stop2) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (reqs, handler, counter) = (reqs.clone(), handler.clone(), counter.clone());
                std::thread::spawn(move || serve(conn, &reqs, &*handler, &counter));
            }
        });
        HttpStub {
            port,
            requests,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Lines of every request answered with a 2xx, in order.
    pub fn accepted_lines(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .flat_map(|r| r.lines())
            .collect()
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(conn: TcpStream, reqs: &Mutex<Vec<Request>>, handler: &Handler, counter: &AtomicUsize) {
    let mut out = match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    };
    let mut rd = BufReader::new(conn);
    loop {
        let mut first = String::new();
        if rd.read_line(&mut first).unwrap_or(0) == 0 {
            return;
        }
        let path_and_query = first.split(' ').nth(1).unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut l = String::new();
            if rd.read_line(&mut l).unwrap_or(0) == 0 {
                return;
            }
            let l = l.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut raw = vec![0; len];
        if rd.read_exact(&mut raw).is_err() {
            return;
        }
        let gzipped = headers
            .iter()
            .any(|(k, v)| k == "content-encoding" && v == "gzip");
        let body = if gzipped {
            let mut d = Vec::new();
            let _ = flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut d);
            d
        } else {
            raw
        };
        let mut req = Request {
            path_and_query,
            headers,
            body,
            gzipped,
            at: Instant::now(),
            status: 0,
        };
        // Numbered on arrival: a slow answer does not delay the next number.
        let index = counter.fetch_add(1, Ordering::SeqCst);
        let reply = handler(&req, index);
        req.status = reply.status;
        reqs.lock().unwrap().push(req);
        let mut head = format!(
            "HTTP/1.1 {} Stub\r\nContent-Length: {}\r\nContent-Type: application/json\r\n",
            reply.status,
            reply.body.len()
        );
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if out.write_all(head.as_bytes()).is_err() || out.write_all(reply.body.as_bytes()).is_err()
        {
            return;
        }
    }
}
