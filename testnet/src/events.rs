//! Reading a node's `GET /v1/events` stream (Server-Sent Events, as the HTML standard defines
//! them): `event:` and `data:` lines, an event ending at a blank line, comments ignored.
//!
//! The node is not trusted to behave: a line longer than [`MAX_EVENT_BYTES`] ends the stream
//! with an error instead of growing the buffer.

use bytes::{Buf, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::client_error::ClientError;

/// Longest event (its lines together) a client buffers.
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// One event: its name (`message` when the server gave none) and its data lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEvent {
    pub name: String,
    pub data: String,
}

/// The events of one open stream, in order.
pub struct Events {
    url: String,
    body: Incoming,
    parser: Parser,
}

impl Events {
    pub(crate) fn new(url: String, body: Incoming) -> Self {
        Self {
            url,
            body,
            parser: Parser::default(),
        }
    }

    /// The next event; `None` when the node closed the stream.
    pub async fn next(&mut self) -> Result<Option<ServerEvent>, ClientError> {
        loop {
            match self.parser.next_event() {
                Ok(Some(event)) => return Ok(Some(event)),
                Ok(None) => {}
                Err(TooLong) => {
                    return Err(ClientError::BadResponse {
                        url: self.url.clone(),
                        status: 200,
                        reason: format!(
                            "an event over {MAX_EVENT_BYTES} bytes; is it a lantau node?"
                        ),
                    });
                }
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => {
                    return Err(ClientError::Unreachable {
                        url: self.url.clone(),
                        reason: e.to_string(),
                    });
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.parser.push(&data);
                    }
                }
            }
        }
    }
}

/// An event grew past [`MAX_EVENT_BYTES`].
#[derive(Debug, PartialEq, Eq)]
struct TooLong;

/// Bytes in, events out.
#[derive(Default)]
struct Parser {
    buffer: BytesMut,
    name: Option<String>,
    data: Vec<String>,
    /// Bytes of the lines of the event being read.
    event_bytes: usize,
}

impl Parser {
    fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete event in what was pushed, if any.
    fn next_event(&mut self) -> Result<Option<ServerEvent>, TooLong> {
        while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
            let mut line = self.buffer.split_to(end + 1);
            line.truncate(end);
            if line.last() == Some(&b'\r') {
                line.truncate(end - 1);
            }
            self.event_bytes += line.len();
            if self.event_bytes > MAX_EVENT_BYTES {
                return Err(TooLong);
            }
            let line = String::from_utf8_lossy(line.chunk()).into_owned();
            if let Some(event) = self.on_line(&line) {
                return Ok(Some(event));
            }
        }
        if self.buffer.len() + self.event_bytes > MAX_EVENT_BYTES {
            return Err(TooLong);
        }
        Ok(None)
    }

    /// Apply one line; a blank line ends the event being read.
    fn on_line(&mut self, line: &str) -> Option<ServerEvent> {
        if line.is_empty() {
            self.event_bytes = 0;
            let name = self.name.take();
            if self.data.is_empty() {
                return None;
            }
            let data = std::mem::take(&mut self.data).join("\n");
            return Some(ServerEvent {
                name: name.unwrap_or_else(|| "message".into()),
                data,
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.name = Some(value.to_string()),
            "data" => self.data.push(value.to_string()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(parser: &mut Parser) -> Vec<ServerEvent> {
        std::iter::from_fn(|| parser.next_event().unwrap()).collect()
    }

    #[test]
    fn events_are_read_across_chunk_boundaries_and_comments_are_skipped() {
        let text = ": keep-alive\n\nevent: block\ndata: {\"height\":1}\n\nevent: tx\r\ndata: a\r\ndata: b\r\n\r\n";
        // Every split point gives the same events.
        for cut in 0..text.len() {
            let mut parser = Parser::default();
            parser.push(&text.as_bytes()[..cut]);
            let mut seen = events(&mut parser);
            parser.push(&text.as_bytes()[cut..]);
            seen.extend(events(&mut parser));
            assert_eq!(
                seen,
                vec![
                    ServerEvent {
                        name: "block".into(),
                        data: "{\"height\":1}".into()
                    },
                    ServerEvent {
                        name: "tx".into(),
                        data: "a\nb".into()
                    },
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn an_endless_line_or_event_is_refused_not_buffered() {
        let mut parser = Parser::default();
        parser.push(&vec![b'x'; MAX_EVENT_BYTES + 1]);
        assert_eq!(parser.next_event(), Err(TooLong));
        // Many short data lines that never end the event add up too.
        let mut parser = Parser::default();
        let line = format!("data: {}\n", "y".repeat(1000));
        for _ in 0..(MAX_EVENT_BYTES / 1000 + 1) {
            parser.push(line.as_bytes());
        }
        assert_eq!(parser.next_event(), Err(TooLong));
    }
}
