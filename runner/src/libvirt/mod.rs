//! The virtualization engine `lab class up` drives: libvirt, local (`qemu:///system`) or on lab
//! hosts over SSH (`qemu+ssh://root@host/system`), through virsh.
pub mod domain;
pub mod node;
pub mod pool;
pub mod uri;
pub mod virsh;

pub use uri::HostUri;
pub use virsh::Virsh;
