//! Block sync's wire protocol (`/lantau/sync/1`): requests for a range of heights, replies of
//! certified blocks, as length-prefixed `ledger::encoding` frames with size limits on both
//! sides.

use std::io;
use std::time::Duration;

use bincode::{Decode, Encode};
use futures::{AsyncReadExt, AsyncWriteExt};
use ledger::encoding;
use ledger::{Block, CommitCertificate};
use libp2p::StreamProtocol;
use libp2p::request_response;

pub(super) const SYNC_PROTOCOL: &str = "/lantau/sync/1";
pub(super) const MAX_SYNC_REQUEST_BYTES: usize = 1024;
/// Largest sync response a node accepts: what the decoder accepts, so a reply that one side
/// sends can always be read by the other.
pub(super) const MAX_SYNC_RESPONSE_BYTES: usize = encoding::MAX_DECODE_BYTES;
/// Most blocks per sync response.
pub const SYNC_BATCH: u64 = 256;
/// A responder stops adding blocks once a reply holds this many bytes (it always sends at
/// least one block, and a block fits the gossip limit, so a reply stays well under
/// [`MAX_SYNC_RESPONSE_BYTES`]). Busy blocks are large: 256 of them would not fit.
pub const SYNC_REPLY_BUDGET_BYTES: usize = 8 * 1024 * 1024;
/// A peer that has not answered a sync request by then is given up on, and another asked.
pub(super) const SYNC_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct SyncRequest {
    pub from_height: u64,
    pub to_height: u64,
}

#[derive(Debug, Clone, Encode, Decode)]
pub struct SyncResponse {
    pub blocks: Vec<(Block, CommitCertificate)>,
}

pub(super) async fn read_framed<T: futures::AsyncRead + Unpin + Send, M: Decode<()>>(
    io: &mut T,
    limit: usize,
) -> io::Result<M> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{len}-byte message over the {limit}-byte limit"),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    encoding::decode(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

pub(super) async fn write_framed<T: futures::AsyncWrite + Unpin + Send, M: Encode>(
    io: &mut T,
    msg: &M,
) -> io::Result<()> {
    let bytes = encoding::encode(msg);
    io.write_all(&(bytes.len() as u32).to_be_bytes()).await?;
    io.write_all(&bytes).await?;
    io.close().await
}

/// Length-prefixed `Req`/`Resp` messages through `ledger::encoding`, refused past the limits
/// (`REQ` and `RESP` bytes) before they are read into memory.
pub(super) struct FramedCodec<Req, Resp, const REQ: usize, const RESP: usize>(
    std::marker::PhantomData<fn() -> (Req, Resp)>,
);

impl<Req, Resp, const REQ: usize, const RESP: usize> Default for FramedCodec<Req, Resp, REQ, RESP> {
    fn default() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<Req, Resp, const REQ: usize, const RESP: usize> Clone for FramedCodec<Req, Resp, REQ, RESP> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// Block sync's codec.
pub(super) type SyncCodec =
    FramedCodec<SyncRequest, SyncResponse, MAX_SYNC_REQUEST_BYTES, MAX_SYNC_RESPONSE_BYTES>;

impl<Req, Resp, const REQ: usize, const RESP: usize> request_response::Codec
    for FramedCodec<Req, Resp, REQ, RESP>
where
    Req: Encode + Decode<()> + Send + Sync + 'static,
    Resp: Encode + Decode<()> + Send + Sync + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Req> {
        read_framed(io, REQ).await
    }

    async fn read_response<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Resp> {
        read_framed(io, RESP).await
    }

    async fn write_request<T: futures::AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Req,
    ) -> io::Result<()> {
        write_framed(io, &req).await
    }

    async fn write_response<T: futures::AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Resp,
    ) -> io::Result<()> {
        write_framed(io, &res).await
    }
}
