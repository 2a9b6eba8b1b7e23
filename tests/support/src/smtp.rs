//! A real SMTP server on 127.0.0.1 for tests: it speaks enough of RFC 5321 for lettre (EHLO,
//! MAIL, RCPT, DATA, RSET, NOOP, QUIT), keeps every message it accepted, and can be told to refuse
//! recipients for good (550) or for now (451), to hold a message without answering (to kill a
//! sender mid-send), or to stop listening altogether and come back on the same port.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Accept,
    /// 550 to every RCPT: a permanent failure.
    RejectRecipients,
    /// 451 to every RCPT: a transient failure.
    DeferRecipients,
    /// Reads the whole message, then never answers: the sender hangs until it gives up or dies.
    HoldAfterData,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message exactly as transmitted (dot-stuffing removed).
    pub data: String,
}

#[derive(Default)]
struct Shared {
    behaviour: Option<Behaviour>,
    received: Vec<Received>,
    /// DATA sections fully read (whether or not they were accepted).
    data_seen: usize,
}

pub struct SmtpServer {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    acceptor: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl SmtpServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind SMTP");
        let addr = listener.local_addr().expect("address");
        let mut server = Self {
            addr,
            shared: Arc::new(Mutex::new(Shared {
                behaviour: Some(Behaviour::Accept),
                ..Shared::default()
            })),
            acceptor: None,
            connections: Arc::new(Mutex::new(Vec::new())),
        };
        server.listen(listener);
        server
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.shared.lock().expect("lock").behaviour = Some(behaviour);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().expect("lock").received.clone()
    }

    pub fn data_seen(&self) -> usize {
        self.shared.lock().expect("lock").data_seen
    }

    /// Stops listening and drops every open connection: new connections are refused.
    pub fn stop(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.abort();
        }
        for connection in self.connections.lock().expect("lock").drain(..) {
            connection.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        self.stop();
        let mut attempts = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                // The old socket may linger for a moment after the listener is dropped.
                Err(_) if attempts < 50 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot listen again on {}: {e}", self.addr),
            }
        };
        self.listen(listener);
    }

    /// Waits until `count` messages were accepted; returns them.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= count || tokio::time::Instant::now() >= deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn listen(&mut self, listener: TcpListener) {
        let shared = self.shared.clone();
        let connections = self.connections.clone();
        self.acceptor = Some(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handle = tokio::spawn(serve(stream, shared.clone()));
                connections.lock().expect("lock").push(handle);
            }
        }));
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn address_of(argument: &str) -> String {
    let start = argument.find('<').map(|i| i + 1).unwrap_or(0);
    let end = argument.find('>').unwrap_or(argument.len());
    argument[start..end].to_owned()
}

async fn serve(stream: TcpStream, shared: Arc<Mutex<Shared>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    if write
        .write_all(b"220 passerelle-test ESMTP\r\n")
        .await
        .is_err()
    {
        return;
    }
    let mut mail_from = String::new();
    let mut rcpt_to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_owned();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let behaviour = shared
            .lock()
            .expect("lock")
            .behaviour
            .unwrap_or(Behaviour::Accept);
        let reply: String = match verb.as_str() {
            "EHLO" => "250-passerelle-test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".into(),
            "HELO" => "250 passerelle-test\r\n".into(),
            "MAIL" => {
                mail_from = address_of(&command);
                rcpt_to.clear();
                "250 2.1.0 Ok\r\n".into()
            }
            "RCPT" => match behaviour {
                Behaviour::RejectRecipients => "550 5.1.1 No such user here\r\n".into(),
                Behaviour::DeferRecipients => "451 4.3.0 Try again later\r\n".into(),
                _ => {
                    rcpt_to.push(address_of(&command));
                    "250 2.1.5 Ok\r\n".into()
                }
            },
            "DATA" => {
                if write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let mut data = String::new();
                loop {
                    line.clear();
                    match lines.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let number = {
                    let mut shared = shared.lock().expect("lock");
                    shared.data_seen += 1;
                    if shared.behaviour == Some(Behaviour::HoldAfterData) {
                        None
                    } else {
                        shared.received.push(Received {
                            mail_from: mail_from.clone(),
                            rcpt_to: std::mem::take(&mut rcpt_to),
                            data,
                        });
                        Some(shared.received.len())
                    }
                };
                match number {
                    Some(n) => format!("250 2.0.0 Ok: queued as TEST{n:06}\r\n"),
                    None => {
                        // Never answer; the connection ends when the sender gives up or dies.
                        let _ = lines.read_line(&mut line).await;
                        return;
                    }
                }
            }
            "RSET" => {
                rcpt_to.clear();
                "250 2.0.0 Ok\r\n".into()
            }
            "NOOP" => "250 2.0.0 Ok\r\n".into(),
            "QUIT" => {
                let _ = write.write_all(b"221 2.0.0 Bye\r\n").await;
                return;
            }
            _ => "502 5.5.2 Command not recognised\r\n".into(),
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
