//! `kubectl replace -f`: `PUT` each object of the files as it is (no merge), with
//! `fieldManager=kubectl-replace`. Prints `KIND/NAME replaced`.

use kube_client::PostParams;

use super::{name_of, namespace_of, print};
use crate::builder;
use crate::cmd::create::when;
use crate::context::resource_of;
use crate::error::{usage, Result};
use crate::printers::object_name;
use crate::Ctx;

/// Replace a resource by file name or stdin.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The files that contain the configurations to replace.
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: &Args) -> Result<()> {
    if args.filename.is_empty() {
        return Err(usage("must specify --filename to replace"));
    }
    let ns = ctx.namespace()?;
    let pp = PostParams { field_manager: Some("kubectl-replace".into()), field_validation: Some("Strict".into()), ..Default::default() };
    let mut errors = Vec::new();
    for source in builder::load(&args.filename)? {
        let res = resource_of(&source.object)?;
        let api = ctx.api(res, namespace_of(&source.object, &ns))?;
        match api.replace(&source.object, &pp).await {
            Ok(obj) => print(&format!("{} replaced\n", object_name(res, name_of(&obj)))),
            Err(e) => errors.push(when("replacing", &source.file, e)),
        }
    }
    super::get::finish(errors)
}
