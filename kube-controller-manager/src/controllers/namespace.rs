//! Not written yet.
use futures::future::BoxFuture;
use crate::ControllerContext;
pub fn start(ctx: &ControllerContext) -> BoxFuture<'static, ()> {
    let cancel = ctx.cancel.clone();
    Box::pin(async move { cancel.cancelled().await })
}
