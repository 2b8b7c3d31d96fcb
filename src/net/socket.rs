//! Socket set-up: per-core SO_REUSEPORT listeners that own their port.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

/// Binds one SO_REUSEPORT listener per core on `addr`. With port 0 the first bind picks the
/// port and the others join it, so every core accepts on the same address.
///
/// SO_REUSEPORT would also let another process of the same user join the port, and the
/// kernel would then split connections between the two: both would serve and every count of
/// both would be wrong. So once the whole group listens, the kernel's table of listening
/// sockets is read, and any listener on an overlapping address and the same port that is not
/// one of ours fails the start with `AddrInUse`. Checking *after* listening (rather than a
/// probe bind without SO_REUSEPORT before it, which leaves a window between probe and bind)
/// makes racing starts fail safe: of two llmload processes binding at once, the later checker
/// always sees the earlier one (both may fail; both never serve). A listener without
/// SO_REUSEPORT, or another user's, already makes our bind fail with EADDRINUSE.
pub(crate) fn reuseport_listeners(addr: SocketAddr, count: usize) -> io::Result<Vec<std::net::TcpListener>> {
    let mut listeners = Vec::with_capacity(count);
    let mut bound = addr;
    for _ in 0..count.max(1) {
        let socket = Socket::new(Domain::for_address(bound), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.set_nodelay(true)?;
        socket.bind(&bound.into()).map_err(|e| in_use(e, bound))?;
        socket.listen(4096)?;
        let listener: std::net::TcpListener = socket.into();
        bound = listener.local_addr()?;
        listeners.push(listener);
    }
    let ours = listeners.iter().map(socket_inode).collect::<io::Result<Vec<u64>>>()?;
    // The listener of a process that has just exited can outlive it by some milliseconds (io_uring
    // releases its sockets from a kernel work queue), so a port is refused only when a foreign
    // listener is still there after a wait: a restart right after a stop works.
    let deadline = Instant::now() + LINGER;
    loop {
        match foreign_listener(bound, &ours)? {
            None => return Ok(listeners),
            Some(other) if Instant::now() >= deadline => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                    "address in use: another process already listens on {} (see `ss -ltnp 'sport = :{}'`)",
                    SocketAddr::new(other, bound.port()),
                    bound.port()
                ),
                ))
            }
            Some(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// How long a foreign listener may linger before the port counts as taken (tens of ms are
/// typical; generous for a busy machine).
const LINGER: Duration = Duration::from_secs(2);

/// EADDRINUSE from bind, in the same words as the check after listening.
fn in_use(e: io::Error, addr: SocketAddr) -> io::Error {
    if e.kind() == io::ErrorKind::AddrInUse {
        io::Error::new(io::ErrorKind::AddrInUse, format!("address in use: another socket is bound to {addr}"))
    } else {
        e
    }
}

/// The inode of a socket, as the kernel's tables name it (`/proc/self/fd/N` → `socket:[inode]`).
fn socket_inode(l: &std::net::TcpListener) -> io::Result<u64> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", l.as_raw_fd()))?;
    let text = link.to_string_lossy();
    text.strip_prefix("socket:[")
        .and_then(|s| s.strip_suffix(']'))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("unexpected socket link {text:?}")))
}

/// The address of a listening socket on `addr`'s port, overlapping `addr`, that is not in `ours`.
fn foreign_listener(addr: SocketAddr, ours: &[u64]) -> io::Result<Option<IpAddr>> {
    let check = |e: io::Error| io::Error::other(format!("cannot check who else listens on the port: {e}"));
    let mut tables = vec![std::fs::read_to_string("/proc/net/tcp").map_err(check)?];
    // Without IPv6 in the kernel there is no tcp6 table, and no IPv6 listener either.
    match std::fs::read_to_string("/proc/net/tcp6") {
        Ok(text) => tables.push(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(check(e)),
    }
    Ok(tables.iter().flat_map(|t| listening(t)).find_map(|(ip, port, inode)| {
        (port == addr.port() && !ours.contains(&inode) && overlaps(ip, addr.ip())).then_some(ip)
    }))
}

/// (address, port, inode) of every LISTEN row of a `/proc/net/tcp` or `tcp6` table.
fn listening(table: &str) -> Vec<(IpAddr, u16, u64)> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != LISTEN {
                return None;
            }
            let (ip, port) = f[1].split_once(':')?;
            Some((hex_ip(ip)?, u16::from_str_radix(port, 16).ok()?, f[9].parse().ok()?))
        })
        .collect()
}

/// An address as the tables print it: 32-bit words in host byte order, each `%08X`.
fn hex_ip(hex: &str) -> Option<IpAddr> {
    let words: Option<Vec<[u8; 4]>> = (0..hex.len() / 8)
        .map(|i| {
            hex.get(8 * i..8 * i + 8).and_then(|w| u32::from_str_radix(w, 16).ok()).map(u32::to_ne_bytes)
        })
        .collect();
    let bytes = words?.concat();
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

/// Whether a listener on `a` takes connections meant for `b` or the reverse: the same address,
/// or a wildcard covering the other (`::` is taken to be dual-stack, the Linux default; a
/// v6-only `::` listener is refused too, which errs on the safe side).
fn overlaps(a: IpAddr, b: IpAddr) -> bool {
    let (a, b) = (a.to_canonical(), b.to_canonical());
    let v6_any = |ip: IpAddr| ip.is_ipv6() && ip.is_unspecified();
    a == b
        || v6_any(a)
        || v6_any(b)
        || (a.is_ipv4() && b.is_ipv4() && (a.is_unspecified() || b.is_unspecified()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17 1 0000000000000000 100 0 0 10 0
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 99 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn reads_listen_rows_only() {
        let v4 = listening(TCP);
        assert_eq!(
            v4,
            vec![("127.0.0.1".parse().unwrap(), 8080, 4242), ("0.0.0.0".parse().unwrap(), 80, 17)]
        );
        assert_eq!(listening(TCP6), vec![("::1".parse().unwrap(), 8081, 99)]);
        assert_eq!(listening("header\n   0: zz:1F90 0 0A a b c d e 5\n"), vec![]);
    }

    #[test]
    fn overlapping_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(overlaps(ip("127.0.0.1"), ip("127.0.0.1")));
        assert!(overlaps(ip("0.0.0.0"), ip("127.0.0.1")));
        assert!(overlaps(ip("127.0.0.1"), ip("0.0.0.0")));
        assert!(overlaps(ip("::"), ip("127.0.0.1")));
        assert!(overlaps(ip("::ffff:127.0.0.1"), ip("127.0.0.1")));
        assert!(!overlaps(ip("127.0.0.2"), ip("127.0.0.1")));
        assert!(!overlaps(ip("0.0.0.0"), ip("::1")));
        assert!(!overlaps(ip("::1"), ip("127.0.0.1")));
    }

    #[test]
    fn a_group_shares_its_port_and_a_second_group_is_refused() {
        let first = reuseport_listeners("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        let addr = first[0].local_addr().unwrap();
        assert!(first.iter().all(|l| l.local_addr().unwrap() == addr));
        // A second group in this process has other inodes: the same check refuses it.
        let err = reuseport_listeners(addr, 2).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(err
            .to_string()
            .contains(&format!("address in use: another process already listens on {addr}")));
        drop(first);
        assert_eq!(reuseport_listeners(addr, 2).unwrap().len(), 2, "the port is free again");
    }
}
