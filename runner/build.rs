//! Rebuild when the labs change: they are embedded with include_dir!, which cargo cannot see.
fn main() {
    println!("cargo:rerun-if-changed=../labs");
}
