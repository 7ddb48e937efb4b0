//! The client under test as a subprocess: started per case, greeted,
//! driven one command at a time over its stdin and stdout, and stopped.
//!
//! Every read has a time limit and every line a size limit: a testee that
//! crashes, hangs or writes garbage ends its case as a failure that says
//! what was seen (the line, the exit status, the tail of its stderr),
//! never as a hang of the runner.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dome_sdk::pb;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command as Process};

use super::protocol::{self, Command, Hello, command, reply};
use crate::case::Stop;

/// How much of a testee's stderr is kept for the report (its tail).
const STDERR_TAIL: usize = 4096;

/// A running testee.
#[derive(Debug)]
pub struct Testee {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr: Arc<Mutex<String>>,
    next_id: u64,
    read_timeout: Duration,
    /// What the testee said of itself.
    pub hello: Hello,
}

/// How a command ended, as the testee reported it.
#[derive(Debug, Clone)]
pub enum End {
    /// It succeeded.
    Done(Box<protocol::Done>),
    /// It failed, as the SDK decoded the failure.
    Error(protocol::ClientError),
}

/// Everything a testee answered to one command.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The events delivered to the application, in order (stream commands).
    pub events: Vec<pb::JobEvent>,
    /// How the command ended.
    pub end: End,
}

impl Answer {
    /// The error, or a failure of the case saying the command succeeded.
    pub fn error(&self, what: &str) -> Result<&protocol::ClientError, Stop> {
        match &self.end {
            End::Error(e) => Ok(e),
            End::Done(done) => {
                Err(Stop::Fail(format!("{what}: the testee reported success ({done:?}), expected an error")))
            }
        }
    }

    /// The successful result, or a failure of the case with the error.
    pub fn done(&self, what: &str) -> Result<&protocol::Done, Stop> {
        match &self.end {
            End::Done(d) => Ok(d),
            End::Error(e) => {
                Err(Stop::Fail(format!("{what}: the testee reported an error, expected success: {}", describe(e))))
            }
        }
    }
}

/// One line of what a testee reported as an error.
pub fn describe(e: &protocol::ClientError) -> String {
    format!(
        "{} reason={:?} code={:?} retryable={} retryDelayMs={} metadata={:?} message={:?}",
        e.kind().as_str_name(),
        e.reason,
        e.code,
        e.retryable,
        e.retry_delay_ms,
        e.metadata,
        e.message
    )
}

/// Splits `--client 'CMD ARGS'` into the program and its arguments: on
/// whitespace, with single or double quotes grouping (no escapes, no
/// shell expansion).
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(format!("the client command `{line}` has an unclosed quote"));
    }
    if in_word {
        out.push(word);
    }
    if out.is_empty() {
        return Err("the client command is empty".into());
    }
    Ok(out)
}

impl Testee {
    /// Starts `command` and reads its greeting, checking the protocol
    /// version.
    pub async fn start(command: &[String], read_timeout: Duration) -> Result<Testee, Stop> {
        let (program, args) = command.split_first().ok_or_else(|| Stop::Fail("the client command is empty".into()))?;
        let mut child = Process::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Stop::Fail(format!("cannot start the testee `{program}`: {e}")))?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(Stop::Fail("the testee's standard streams are not piped".into()));
        };
        let tail = Arc::new(Mutex::new(String::new()));
        let sink = tail.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr);
            let mut buf = Vec::new();
            while let Ok(n) = read_bounded(&mut lines, &mut buf).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut tail) = sink.lock() {
                    tail.push_str(&String::from_utf8_lossy(&buf));
                    tail.push('\n');
                    if tail.len() > STDERR_TAIL {
                        let cut = tail.len() - STDERR_TAIL;
                        let cut = (cut..tail.len()).find(|i| tail.is_char_boundary(*i)).unwrap_or(tail.len());
                        tail.drain(..cut);
                    }
                }
            }
        });
        let mut testee = Testee {
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            stderr: tail,
            next_id: 0,
            read_timeout,
            hello: Hello::default(),
        };
        let line = testee.read_line("its greeting (`Hello`)").await?;
        let hello =
            protocol::hello(&line).map_err(|e| testee.failure(&format!("its greeting {line:?} is broken: {e}")))?;
        protocol::check_version(&hello).map_err(Stop::Fail)?;
        testee.hello = hello;
        Ok(testee)
    }

    /// Whether the testee implements `profile`.
    pub fn has_profile(&self, profile: &str) -> bool {
        self.hello.profiles.iter().any(|p| p == profile)
    }

    /// Sends one command and reads every reply to it. A reply `unsupported`
    /// skips the case.
    pub async fn call(&mut self, action: command::Action) -> Result<Answer, Stop> {
        self.next_id += 1;
        let id = self.next_id;
        let name = action_name(&action);
        let line = protocol::command_line(&Command { id, action: Some(action) });
        let write = async {
            let stdin = self.stdin.as_mut().ok_or_else(|| "stdin is closed".to_string())?;
            stdin.write_all(line.as_bytes()).await.map_err(|e| e.to_string())?;
            stdin.write_all(b"\n").await.map_err(|e| e.to_string())?;
            stdin.flush().await.map_err(|e| e.to_string())
        };
        match tokio::time::timeout(self.read_timeout, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.failure(&format!("cannot write the `{name}` command: {e}"))),
            Err(_) => {
                return Err(
                    self.failure(&format!("the `{name}` command could not be written within {:?}", self.read_timeout))
                );
            }
        }
        let mut events = Vec::new();
        loop {
            let line = self.read_line(&format!("its reply to `{name}` (command {id})")).await?;
            let reply = protocol::reply(&line)
                .map_err(|e| self.failure(&format!("its reply {line:?} to `{name}` is broken: {e}")))?;
            if reply.id != id {
                return Err(self.failure(&format!(
                    "it answered command {} while command {id} (`{name}`) was pending: {line}",
                    reply.id
                )));
            }
            match reply.outcome {
                Some(reply::Outcome::Event(event)) => events.push(event),
                Some(reply::Outcome::Done(done)) => return Ok(Answer { events, end: End::Done(Box::new(done)) }),
                Some(reply::Outcome::Error(error)) => return Ok(Answer { events, end: End::Error(error) }),
                Some(reply::Outcome::Unsupported(why)) => {
                    return Err(Stop::Skip(format!("the testee does not support `{name}`: {why}")));
                }
                None => return Err(self.failure(&format!("its reply to `{name}` sets no outcome: {line}"))),
            }
        }
    }

    /// Asks the testee to shut down, closes its stdin and waits for it to
    /// exit; one that does not is killed. Returns a failure when it
    /// exited unsuccessfully.
    pub async fn finish(mut self) -> Result<(), Stop> {
        let shutdown = self.call(command::Action::Shutdown(protocol::Shutdown {})).await;
        self.stdin = None;
        let status = match tokio::time::timeout(self.read_timeout, self.child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => return Err(self.failure(&format!("cannot wait for it to exit: {e}"))),
            Err(_) => {
                let _ = self.child.kill().await;
                return Err(self.failure(&format!("it did not exit within {:?} of `shutdown`", self.read_timeout)));
            }
        };
        shutdown?;
        if !status.success() {
            return Err(self.failure(&format!("it exited with {status} after `shutdown`")));
        }
        Ok(())
    }

    /// A failure of the case naming what the testee did, with the tail of
    /// its stderr.
    pub fn failure(&mut self, what: &str) -> Stop {
        let exited = match self.child.try_wait() {
            Ok(Some(status)) => format!(" (it exited: {status})"),
            _ => String::new(),
        };
        let tail = self.stderr.lock().map(|t| t.clone()).unwrap_or_default();
        let tail = if tail.trim().is_empty() {
            String::new()
        } else {
            format!("\nthe testee's stderr ends with:\n{}", tail.trim_end())
        };
        Stop::Fail(format!("testee `{}`: {what}{exited}{tail}", self.hello.name))
    }

    async fn read_line(&mut self, what: &str) -> Result<String, Stop> {
        let mut buf = Vec::new();
        match tokio::time::timeout(self.read_timeout, read_bounded(&mut self.stdout, &mut buf)).await {
            Err(_) => Err(self.failure(&format!("no answer within {:?} while waiting for {what}", self.read_timeout))),
            Ok(Err(e)) => Err(self.failure(&format!("reading {what} failed: {e}"))),
            Ok(Ok(0)) => {
                // Give the exit status a moment to be known, bounded.
                let _ = tokio::time::timeout(Duration::from_millis(200), self.child.wait()).await;
                Err(self.failure(&format!("its stdout closed while waiting for {what}")))
            }
            Ok(Ok(_)) => String::from_utf8(buf).map_err(|_| self.failure(&format!("{what} is not UTF-8"))),
        }
    }
}

/// Reads one line (without its `\n`) of at most [`protocol::MAX_LINE`]
/// bytes; returns the bytes consumed, 0 at end of input.
pub async fn read_bounded<R: AsyncBufReadExt + Unpin>(reader: &mut R, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    buf.clear();
    let mut consumed = 0;
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(consumed);
        }
        let (take, end) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if buf.len() + take > protocol::MAX_LINE {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a line longer than {} bytes", protocol::MAX_LINE),
            ));
        }
        buf.extend_from_slice(&chunk[..take]);
        reader.consume(take);
        consumed += take;
        if end {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(consumed);
        }
    }
}

/// The command's name in the protocol's JSON.
pub fn action_name(action: &command::Action) -> &'static str {
    use command::Action::*;
    match action {
        Connect(_) => "connect",
        Execute(_) => "execute",
        ExecuteAndWait(_) => "executeAndWait",
        GetStatus(_) => "getStatus",
        Cancel(_) => "cancel",
        CancelAndWait(_) => "cancelAndWait",
        StreamEvents(_) => "streamEvents",
        GetGateDecision(_) => "getGateDecision",
        GetPromotionDecision(_) => "getPromotionDecision",
        Shutdown(_) => "shutdown",
    }
}
