//! What every scenario needs: loopback-only connections from chosen source addresses, the join handshake,
//! and readings of a relay process's memory and CPU time from `/proc`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use peerlab_protocol::{
    decode_server, encode_client, ClientMessage, Member, PeerId, ServerMessage, PROTOCOL_VERSION,
};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub type Ws = WebSocketStream<TcpStream>;

/// Refuses any relay address that is not on this machine.
pub fn check_loopback(relays: &[SocketAddr]) -> anyhow::Result<()> {
    if relays.is_empty() {
        bail!("no --relay given");
    }
    if let Some(bad) = relays.iter().find(|a| !a.ip().is_loopback()) {
        bail!("refusing to load {bad}: only loopback addresses may be targeted");
    }
    Ok(())
}

/// The `i`-th source address: 127.0.0.1, 127.0.0.2, ... cycling over `sources`.
pub fn source(i: usize, sources: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 1 + (i % sources.max(1) as usize) as u8)
}

/// Opens a WebSocket to `relay` from `source`.
pub async fn connect(relay: SocketAddr, source: Ipv4Addr) -> anyhow::Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    let stream = socket.connect(relay).await?;
    stream.set_nodelay(true)?;
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{relay}/ws"), stream).await?;
    Ok(ws)
}

/// Sends `join` and waits for `welcome`, returning the peer id and the members already there.
pub async fn join(ws: &mut Ws, room: &str, name: &str) -> anyhow::Result<(PeerId, Vec<Member>)> {
    send_join(ws, room, name).await?;
    loop {
        match next_message(ws).await? {
            ServerMessage::Welcome {
                peer_id, members, ..
            } => return Ok((peer_id, members)),
            ServerMessage::Error { code, message } => bail!("join refused: {code}: {message}"),
            _ => {}
        }
    }
}

pub async fn send_join(ws: &mut Ws, room: &str, name: &str) -> anyhow::Result<()> {
    let join = ClientMessage::Join {
        version: PROTOCOL_VERSION,
        name: name.into(),
        room: room.into(),
        token: None,
        resume: None,
    };
    ws.send(Message::text(encode_client(&join))).await?;
    Ok(())
}

/// The next protocol message (pings are answered by tungstenite while reading).
pub async fn next_message(ws: &mut Ws) -> anyhow::Result<ServerMessage> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(decode_server(&text)?),
            Some(Ok(Message::Close(frame))) => bail!("relay closed the connection: {frame:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => bail!("relay closed the connection"),
        }
    }
}

/// A process's resident set size in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status; is the relay running?"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS line")
}

/// A process's CPU time (user + system) in milliseconds.
pub fn cpu_ms(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').context("odd /proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11).context("no utime")?.parse()?;
    let stime: f64 = fields.get(12).context("no stime")?.parse()?;
    // SAFETY-free: sysconf is read through the `CLK_TCK` the kernel reports for /proc; 100 on Linux.
    let ticks_per_sec = 100.0;
    Ok((utime + stime) * 1000.0 / ticks_per_sec)
}

/// The value at quantile `q` (0..=1) of sorted `values`.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_the_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&values, 0.5), 51);
        assert_eq!(quantile(&values, 0.99), 99);
        assert_eq!(quantile(&values, 1.0), 100);
        assert_eq!(quantile(&[], 0.5), 0);
    }

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(check_loopback(&["127.0.0.1:8080".parse().unwrap()]).is_ok());
        assert!(check_loopback(&["10.0.0.1:8080".parse().unwrap()]).is_err());
        assert!(check_loopback(&[]).is_err());
    }
}
