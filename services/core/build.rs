//! `sqlx::migrate!` embeds the migrations at compile time: a new file under `migrations/` must
//! rebuild the crate, which Cargo does not know without being told.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
