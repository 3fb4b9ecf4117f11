//! Every `drydock.*` label Drydock puts on what it creates in the engine.
//! Labels say what an object is for; they never grant anything: who owns a
//! lab's objects is decided from the database and from labels Drydock set
//! itself on objects it created.

/// On every container, volume, network and image Drydock creates.
pub const MANAGED: &str = "drydock.managed";
/// The Drydock installation an object belongs to (reconciliation scope).
pub const INSTANCE: &str = "drydock.instance";
/// The user a lab container belongs to (`pool` for the warm pool).
pub const OWNER: &str = "drydock.owner";
/// The lab id of a lab container.
pub const LAB: &str = "drydock.lab";
/// The lab session of a lab container.
pub const SESSION: &str = "drydock.session";
/// When a lab container's session ends (epoch ms, at creation).
pub const EXPIRES_AT: &str = "drydock.expires_at";
/// A container waiting in the warm pool (value: its lab id).
pub const POOL: &str = "drydock.pool";
/// A container, volume or image of one grading (value: the grading's name).
pub const GRADING: &str = "drydock.grading";
/// What the grading sandbox set or changed (comma-separated fields).
pub const IMPOSED: &str = "drydock.imposed";
/// On a container, volume or network a learner made through a lab's Docker
/// endpoint (value: the lab session). Set only by Drydock's proxy.
pub const CHILD_OF: &str = "drydock.child-of";
/// Memory (bytes) the proxy granted a learner's container, counted against
/// the lab's budget.
pub const MEMORY: &str = "drydock.memory";
/// Ports (`8080/tcp,…`) a learner's container asked to publish: what the
/// lab's browser preview may open.
pub const PORTS: &str = "drydock.ports";
/// What the learner asked for in the settings a lab's Docker endpoint
/// rewrites (limits, tmpfs, ports, logs): JSON of
/// `drydock_grader::input::container::LabRequest`, read when grading the
/// learner's own containers.
pub const REQUEST: &str = "drydock.request";
/// The context hash a lab image was built from.
pub const IMAGE_HASH: &str = "drydock.image.hash";
/// The image directory a lab image was built from.
pub const IMAGE: &str = "drydock.image";

/// Whether a label key is one of Drydock's (any case): learners never set these.
pub use drydock_grader::sandbox::is_reserved_label as is_reserved;
