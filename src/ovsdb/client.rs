//! A minimal, blocking OVSDB JSON-RPC client (RFC 7047) over a unix socket:
//! enough to probe readiness and read a few rows of a running replica.

use serde_json::{json, Value};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

/// Longest path a `sockaddr_un` holds.
const SUN_PATH_MAX: usize = 107;

/// Connects to a unix socket; a path too long for `sockaddr_un` (a deep
/// workdir) is reached through `/proc/self/fd/<dir>/<name>`, as OVS's own
/// tools do.
pub(crate) fn connect(socket: &Path) -> io::Result<UnixStream> {
    if socket.as_os_str().len() <= SUN_PATH_MAX {
        return UnixStream::connect(socket);
    }
    let (Some(dir), Some(name)) = (socket.parent(), socket.file_name()) else {
        return UnixStream::connect(socket);
    };
    let dir = File::open(dir)?;
    UnixStream::connect(Path::new(&format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name))
}

fn call(socket: &Path, method: &str, params: Value) -> io::Result<Value> {
    let mut stream = connect(socket)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let request = json!({"id": 0, "method": method, "params": params});
    stream.write_all(request.to_string().as_bytes())?;
    let mut replies = serde_json::Deserializer::from_reader(&stream).into_iter::<Value>();
    loop {
        let reply = replies.next().ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no reply"))??;
        if reply["id"] == 0 {
            if !reply["error"].is_null() {
                return Err(io::Error::other(format!("{method}: {}", reply["error"])));
            }
            return Ok(reply["result"].clone());
        }
    }
}

/// The databases a server serves; answers as soon as the server is up.
pub fn list_dbs(socket: &Path) -> io::Result<Vec<String>> {
    let result = call(socket, "list_dbs", json!([]))?;
    Ok(result.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect())
}

/// `select` of `columns` from every row of `table`.
pub fn select(socket: &Path, db: &str, table: &str, columns: &[&str]) -> io::Result<Vec<Value>> {
    let op = json!({"op": "select", "table": table, "where": [], "columns": columns});
    let result = call(socket, "transact", json!([db, op]))?;
    if let Some(err) = result[0].get("error") {
        return Err(io::Error::other(format!("select from {table}: {err}")));
    }
    Ok(result[0]["rows"].as_array().cloned().unwrap_or_default())
}

/// Elements of an OVSDB set (`["set", […]]` or a single atom).
pub fn set_elements(value: &Value) -> Vec<Value> {
    match value.as_array() {
        Some(pair) if pair.first() == Some(&json!("set")) => pair[1].as_array().cloned().unwrap_or_default(),
        _ => vec![value.clone()],
    }
}

/// The value of `key` in an OVSDB map (`["map", [[k, v], …]]`).
pub fn map_value<'a>(map: &'a Value, key: &str) -> Option<&'a str> {
    let pairs = map.get(1)?.as_array()?;
    pairs.iter().find(|p| p[0] == key).and_then(|p| p[1].as_str())
}
