//! Requests from the node's handles that need the node task: submissions (already verified
//! off it) and the reads only it can answer (the mempool: a hash, a sender's next nonce, its
//! listing); every other read goes to `reads`.

use super::Node;
use crate::handle::Request;
use crate::network::Command;
use crate::refusal::Refusal;

impl Node {
    pub(super) async fn on_request(&mut self, request: Request) {
        match request {
            Request::Submit {
                raws,
                verified,
                reply,
            } => {
                if let Some(reason) = self.driver.halted() {
                    let halted = || Err(Refusal::Halted(reason.to_string()));
                    let _ = reply.send(raws.iter().map(|_| halted()).collect());
                    return;
                }
                let results = self.admit(verified);
                self.count_refusals(&results, false);
                for (raw, result) in raws.into_iter().zip(&results) {
                    if result.is_ok() {
                        self.txs.outbox.push(raw);
                    }
                }
                if self.txs.outbox.is_full() {
                    self.flush_outbox().await;
                }
                let _ = reply.send(results);
            }
            Request::IsPending { hash, reply } => {
                let _ = reply.send(self.app.is_pending(&hash));
            }
            Request::NextNonce { address, reply } => {
                let _ = reply.send(self.app.next_nonce(&address));
            }
            Request::Mempool { limit, from, reply } => {
                let _ = reply.send(self.app.mempool_view(limit, from.as_ref()));
            }
            Request::SetBlocked { peer, blocked } => {
                let _ = self.net.send(Command::SetBlocked { peer, blocked }).await;
            }
            Request::Peers { reply } => {
                // The network task answers directly.
                let _ = self.net.send(Command::Peers { reply }).await;
            }
        }
    }
}
