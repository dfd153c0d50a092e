//! Connection steering: a follower's connection lands on the leader's shard that owns the
//! partitions it fetches, so replication runs shard i → shard i without mesh hops.
//!
//! Every shard listens on the same address with `SO_REUSEPORT`, and the kernel picks the
//! accepting socket by hashing the connection's 4-tuple; a follower fetch that lands on
//! shard j ≠ i then crosses the mesh several times per request (validate, register the
//! long poll, read), each crossing a wake-up of another thread. The convention here lets a
//! connecting broker choose the shard instead:
//!
//! - the listening sockets of one address join their reuseport group in shard order (the
//!   runner starts the shards' listeners one after another), so group index k is shard k;
//! - a classic BPF program on the group ([`attach_steering`], `SO_ATTACH_REUSEPORT_CBPF`)
//!   sends a connection from an **odd** source port p to index `(p >> 1) % shards`, and lets
//!   the kernel hash every other connection as before (an out-of-range answer means "hash");
//! - a follower binds an odd local port chosen by [`steering_port`] before it connects.
//!
//! Linux's `connect()` picks even ephemeral ports first (odd ones are `bind(0)`'s), so Kafka
//! clients keep the kernel's spread; the few that end up on an odd port are spread by port,
//! which is as good. Only IPv4 without options and IPv6 with TCP as the next header are
//! read; anything else is hashed. A broker whose shard count differs from the follower's
//! still serves it, through the mesh, as without steering.
use std::io;
use std::os::fd::AsRawFd;

/// `SO_ATTACH_REUSEPORT_CBPF` (asm-generic/socket.h; not exported by `libc` for Linux).
const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;

/// The program's answer for "not steered: hash as usual" (any index ≥ the group size).
const NOT_STEERED: u32 = u32::MAX;

/// The local port range followers pick steering ports from: the top of Linux's default
/// ephemeral range (32768–60999) upwards, where `connect()`'s even ports are the neighbours.
pub const STEERING_PORT_FIRST: u16 = 40_001;
pub const STEERING_PORT_LAST: u16 = 60_999;

fn statement(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: u16::try_from(code).unwrap_or(u16::MAX),
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: u16::try_from(code).unwrap_or(u16::MAX),
        jt,
        jf,
        k,
    }
}

/// Offset `at` bytes into the network header, as a classic BPF absolute load reads it.
fn net(at: u32) -> u32 {
    libc::SKF_NET_OFF.cast_unsigned().wrapping_add(at)
}

/// The steering program for a group of `shards` sockets (see the module comment).
#[must_use]
pub fn steering_program(shards: u32) -> Vec<libc::sock_filter> {
    use libc::{
        BPF_A, BPF_ABS, BPF_ALU, BPF_B, BPF_H, BPF_JA, BPF_JEQ, BPF_JMP, BPF_JSET, BPF_K, BPF_LD,
        BPF_MOD, BPF_RET, BPF_RSH,
    };
    let shards = shards.max(1);
    // Jump offsets count instructions after the jump; the indexes are in the comments.
    vec![
        // 0: A = the IP header's first byte (version, header length).
        statement(BPF_LD | BPF_B | BPF_ABS, net(0)),
        // 1: IPv4 with a 20-byte header (0x45) → 4.
        jump(BPF_JMP | BPF_JEQ | BPF_K, 0x45, 2, 0),
        // 2, 3: IPv6 → 6; anything else → 13.
        statement(BPF_ALU | BPF_RSH | BPF_K, 4),
        jump(BPF_JMP | BPF_JEQ | BPF_K, 6, 2, 9),
        // 4, 5: IPv4: A = the TCP source port, right after the header; → 9.
        statement(BPF_LD | BPF_H | BPF_ABS, net(20)),
        statement(BPF_JMP | BPF_JA, 3),
        // 6, 7, 8: IPv6: the next header must be TCP (6), else → 13; A = the source port.
        statement(BPF_LD | BPF_B | BPF_ABS, net(6)),
        jump(BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 5),
        statement(BPF_LD | BPF_H | BPF_ABS, net(40)),
        // 9: an even port → 13.
        jump(BPF_JMP | BPF_JSET | BPF_K, 1, 0, 3),
        // 10, 11, 12: index (port >> 1) % shards.
        statement(BPF_ALU | BPF_RSH | BPF_K, 1),
        statement(BPF_ALU | BPF_MOD | BPF_K, shards),
        statement(BPF_RET | BPF_A, 0),
        // 13: not steered.
        statement(BPF_RET | BPF_K, NOT_STEERED),
    ]
}

/// Puts the steering program on the reuseport group of `socket` (a listening socket with
/// `SO_REUSEPORT`); every socket of the group shares it, so attaching again on each shard
/// replaces it with the same program.
///
/// # Errors
/// The kernel's refusal (an old kernel without `SO_ATTACH_REUSEPORT_CBPF`, or a socket
/// without `SO_REUSEPORT`).
pub fn attach_steering(socket: &impl AsRawFd, shards: usize) -> io::Result<()> {
    let shards = u32::try_from(shards).unwrap_or(u32::MAX);
    let mut program = steering_program(shards);
    let program = libc::sock_fprog {
        len: u16::try_from(program.len()).unwrap_or(u16::MAX),
        filter: program.as_mut_ptr(),
    };
    let size = libc::socklen_t::try_from(std::mem::size_of::<libc::sock_fprog>())
        .unwrap_or(libc::socklen_t::MAX);
    // SAFETY: `program` points at `len` valid instructions that outlive the call (the kernel
    // copies them); the option's size is that of the struct passed.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_REUSEPORT_CBPF,
            (&raw const program).cast(),
            size,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The `attempt`-th local port (from a per-connection `seed`) that steers a connection to
/// shard `shard` of `shards`: odd, with `(port >> 1) % shards == shard`, within
/// [`STEERING_PORT_FIRST`]..=[`STEERING_PORT_LAST`]. Successive attempts walk the range.
#[must_use]
pub fn steering_port(shard: usize, shards: usize, seed: u32, attempt: u32) -> u16 {
    let shards = u32::try_from(shards.max(1)).unwrap_or(u32::MAX);
    let shard = u32::try_from(shard).unwrap_or(0) % shards;
    let first = u32::from(STEERING_PORT_FIRST >> 1);
    let last = u32::from(STEERING_PORT_LAST >> 1);
    // Halves h in [first, last] with h % shards == shard: `slots` of them.
    let base = first + (shard + shards - first % shards) % shards;
    let slots = (last.saturating_sub(base)) / shards + 1;
    let slot = seed.wrapping_add(attempt) % slots;
    let half = base + slot * shards;
    u16::try_from(half * 2 + 1).unwrap_or(STEERING_PORT_LAST)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddr, TcpListener};
    use std::time::{Duration, Instant};

    #[test]
    fn steering_ports_are_odd_in_range_and_name_their_shard() {
        for shards in 1..=5usize {
            for shard in 0..shards {
                for attempt in 0..50 {
                    let port = steering_port(shard, shards, 12_345, attempt);
                    assert_eq!(port % 2, 1);
                    assert!((STEERING_PORT_FIRST..=STEERING_PORT_LAST).contains(&port));
                    assert_eq!(usize::from(port >> 1) % shards, shard);
                }
            }
        }
        assert_ne!(steering_port(1, 2, 7, 0), steering_port(1, 2, 7, 1));
    }

    /// A reuseport group of `count` listeners on one 127.0.0.1 port, joined in order.
    fn group(count: usize) -> Vec<TcpListener> {
        use socket2::{Domain, Socket, Type};
        let mut port = 0;
        let mut listeners = Vec::new();
        for _ in 0..count {
            let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            socket.set_reuse_port(true).unwrap();
            let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            socket.bind(&address.into()).unwrap();
            socket.listen(16).unwrap();
            socket.set_nonblocking(true).unwrap();
            let listener: TcpListener = socket.into();
            port = listener.local_addr().unwrap().port();
            listeners.push(listener);
        }
        listeners
    }

    /// Which listener of `group` accepts a connection made from `local_port` (0: any).
    fn accepting(group: &[TcpListener], local_port: u16) -> usize {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let local = SocketAddr::from((Ipv4Addr::LOCALHOST, local_port));
        socket.bind(&local.into()).unwrap();
        let target = group[0].local_addr().unwrap();
        socket.connect(&target.into()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        // Bounded by the deadline.
        while Instant::now() < deadline {
            for (index, listener) in group.iter().enumerate() {
                if listener.accept().is_ok() {
                    return index;
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("no listener accepted");
    }

    #[test]
    fn an_odd_source_port_lands_on_its_shard_and_others_spread() {
        let listeners = group(3);
        attach_steering(&listeners[0], 3).unwrap();
        for attempt in 0..12 {
            let shard = usize::try_from(attempt % 3).unwrap();
            // Another seed per run keeps a port in TIME_WAIT from a previous run out of the way.
            let seed = std::process::id().wrapping_mul(31);
            let port = steering_port(shard, 3, seed, attempt);
            assert_eq!(accepting(&listeners, port), shard, "port {port}");
        }
        // Ports the kernel picks (even first) are hashed: over 30 connections, more than one
        // listener takes some (a fixed index would mean every client on one shard).
        let mut seen = [false; 3];
        for _ in 0..30 {
            seen[accepting(&listeners, 0)] = true;
        }
        assert!(seen.iter().filter(|&&seen| seen).count() > 1, "{seen:?}");
    }
}
