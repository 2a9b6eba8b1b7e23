//! Free ports on 127.0.0.1 for the servers a test starts.

use std::net::TcpListener;

/// A port nothing listens on right now. The listener is closed at once, so another process could
/// take the port in between; tests start their servers immediately after.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub async fn listening(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}
