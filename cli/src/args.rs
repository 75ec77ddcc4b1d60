//! The command line, shaped like Docker's.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A container engine built around pluggable copy-on-write storage drivers.
#[derive(Debug, Parser)]
#[command(name = "engine", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes (Docker's daemon flags, since `engine` runs without a daemon).
#[derive(Debug, Args)]
pub struct GlobalOpts {
    /// Storage driver to use (overlay2, devicemapper, vfs); default: detected as Docker does
    #[arg(long, global = true, value_name = "DRIVER")]
    pub storage_driver: Option<String>,
    /// Storage driver option, e.g. overlay2.size=10G (repeatable)
    #[arg(long = "storage-opt", global = true, value_name = "KEY=VALUE")]
    pub storage_opts: Vec<String>,
    /// Root directory of persistent engine state [default: /var/lib/engine]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_root: Option<PathBuf>,
    /// Daemon configuration file [default: /etc/engine/daemon.json]
    #[arg(long, alias = "config-file", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log level: error, warn, info, debug, trace
    #[arg(short = 'l', long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Registry allowed plain HTTP and unchecked TLS, HOST[:PORT] or CIDR (repeatable)
    #[arg(long = "insecure-registry", global = true, value_name = "HOST:PORT")]
    pub insecure_registries: Vec<String>,
    /// The default bridge network's gateway address and prefix [default: 172.17.0.1/16]
    #[arg(long, global = true, value_name = "CIDR")]
    pub bip: Option<String>,
    /// The default bridge network's interface name [default: engine0]
    #[arg(long, global = true, value_name = "NAME")]
    pub bridge: Option<String>,
    /// A pool user-defined networks take subnets from: base=CIDR,size=N (repeatable)
    #[arg(
        long = "default-address-pool",
        global = true,
        value_name = "base=CIDR,size=N"
    )]
    pub default_address_pools: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Display system-wide information
    Info,
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// List images
    Images(ImagesArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag { source: String, target: String },
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout {
        /// The registry (default: Docker Hub)
        server: Option<String>,
    },
    /// Manage read-only layers in the layer store
    #[command(subcommand)]
    Layer(LayerCommand),
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Return low-level information on containers or images
    Inspect(InspectArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(WaitArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Pause all processes within one or more containers
    Pause(WaitArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Unpause all processes within one or more containers
    Unpause(WaitArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Serve the Docker Engine API on UNIX sockets and TCP with TLS (for Docker's CLI and SDKs)
    Daemon(DaemonArgs),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage the engine (disk usage)
    #[command(subcommand)]
    System(SystemCommand),
    /// Manage builds (the build cache)
    #[command(subcommand)]
    Builder(BuilderCommand),
    /// Get real time events from the engine
    Events(crate::commands::events::EventsArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Measure the storage drivers on this disk against the bare filesystem
    Bench(crate::bench_args::BenchArgs),
    /// Owns one container: started by `run -d`/`start`, not meant to be typed.
    #[command(hide = true)]
    ContainerMonitor {
        id: String,
        /// Descriptor to report the start on, then close.
        #[arg(long)]
        ready_fd: Option<i32>,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long)]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Container host name
    #[arg(long)]
    pub hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Bind mount a volume (HOST:CONTAINER[:ro] or NAME:CONTAINER)
    #[arg(short, long = "volume")]
    pub volumes: Vec<String>,
    /// Attach a filesystem mount to the container (type=bind|volume|tmpfs,source=,target=,...)
    #[arg(long = "mount", value_name = "mount")]
    pub mounts: Vec<String>,
    /// Mount volumes from the specified container(s) (CONTAINER[:ro|rw])
    #[arg(long = "volumes-from", value_name = "list")]
    pub volumes_from: Vec<String>,
    /// Connect a container to a network (bridge, host, none, container:NAME, or a network)
    #[arg(long, alias = "net", default_value = "bridge")]
    pub network: String,
    /// Publish a container's port(s) to the host ([IP:]HOST:CONTAINER[/tcp|/udp])
    #[arg(short, long = "publish")]
    pub publish: Vec<String>,
    /// Set meta data on a container (KEY=VALUE, or KEY for an empty value)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Memory limit
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long)]
    pub memory_swap: Option<String>,
    /// Restart policy to apply when a container exits
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Security options and resource limits
    #[command(flatten)]
    pub security: SecurityArgs,
    /// `--health-*`, `--no-healthcheck`
    #[command(flatten)]
    pub health: crate::health_args::HealthArgs,
    /// Signal to stop the container
    #[arg(long, value_name = "string")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long, value_name = "int", allow_hyphen_values = true)]
    pub stop_timeout: Option<i64>,
    /// Add a network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias", value_name = "ALIAS")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub add_host: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// IPC mode to use (private, shareable, host, container:NAME)
    #[arg(long)]
    pub ipc: Option<String>,
    /// PID namespace to use (host, container:NAME)
    #[arg(long)]
    pub pid: Option<String>,
    /// UTS namespace to use (host)
    #[arg(long)]
    pub uts: Option<String>,
    /// Further host settings: swappiness, reservation, OOM score, groups, DNS options,
    /// cgroup namespace, log and volume drivers, domain name
    #[command(flatten)]
    pub host: HostArgs,
    /// IMAGE [COMMAND] [ARG...]: one list, so flags after the image belong to the command
    /// (Docker stops parsing its own flags at the image name)
    #[arg(
        required = true,
        trailing_var_arg = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub argv: Vec<String>,
    /// The image (the first of `argv`).
    #[arg(skip)]
    pub image: String,
    /// The command (the rest of `argv`).
    #[arg(skip)]
    pub command: Vec<String>,
}

impl RunArgs {
    /// Splits `argv` into the image and the command.
    pub fn split(mut self) -> Self {
        if !self.argv.is_empty() {
            self.image = self.argv.remove(0);
            self.command = std::mem::take(&mut self.argv);
        }
        self
    }
}

/// `run`/`create` flags of [`engine_core::container::host_options::HostOptions`] and
/// `--domainname`.
#[derive(Debug, Args)]
pub struct HostArgs {
    /// Tune container memory swappiness (0 to 100)
    #[arg(long, value_name = "int", allow_hyphen_values = true)]
    pub memory_swappiness: Option<i64>,
    /// Memory soft limit
    #[arg(long, value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long, value_name = "int", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i64>,
    /// Add additional groups to join
    #[arg(long, value_name = "list")]
    pub group_add: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt", value_name = "list")]
    pub dns_option: Vec<String>,
    /// Container NIS domain name
    #[arg(long, value_name = "string")]
    pub domainname: Option<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long, value_name = "string")]
    pub cgroupns: Option<String>,
    /// Logging driver for the container (json-file, none)
    #[arg(long, value_name = "string")]
    pub log_driver: Option<String>,
    /// Log driver options (max-size=, max-file=)
    #[arg(long, value_name = "list")]
    pub log_opt: Vec<String>,
    /// Optional volume driver for the container (local)
    #[arg(long, value_name = "string")]
    pub volume_driver: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (not supported here)
    #[arg(long, value_name = "uint16")]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long, value_name = "int")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long, value_name = "int", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long, value_name = "int")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long, value_name = "decimal")]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short, long, value_name = "bytes")]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long, value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long, value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long, value_name = "string")]
    pub restart: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, value_name = "string")]
    pub detach_keys: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long)]
    pub no_stdin: bool,
    /// Proxy all received signals to the process (non-TTY only)
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, value_name = "string")]
    pub detach_keys: Option<String>,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container (default: its --stop-timeout, else 10)
    #[arg(short, long)]
    pub time: Option<u64>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output based on conditions provided (status, name, id, label, ancestor, exited, before, since, network, volume, publish, expose)
    #[arg(short, long = "filter")]
    pub filters: Vec<String>,
    /// Format output using a Go template subset ({{.ID}}, {{.Names}}, ...; "table ...")
    #[arg(long)]
    pub format: Option<String>,
    /// Show the latest created container
    #[arg(long)]
    pub latest: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Return JSON for the specified type (container, image)
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Format the output using the given Go template
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// With -d: this process is the exec's holder (started by `exec -d`, not meant to be
    /// typed); it reports the start on this descriptor, then waits for the process.
    #[arg(long, hide = true, requires = "detach")]
    pub holder_ready_fd: Option<i32>,
    pub container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    pub container: String,
    /// ps options (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Daemon socket(s) to listen on, repeatable: unix://PATH, tcp://ADDR[:PORT]
    /// [default: unix:///run/engine.sock]
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// Group for the socket [default: docker, when that group exists]
    #[arg(short = 'G', long)]
    pub group: Option<String>,
    /// Use TLS on tcp:// listeners; implied by --tlsverify
    #[arg(long)]
    pub tls: bool,
    /// Use TLS and require a client certificate signed by --tlscacert
    #[arg(long)]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA [default: ~/.docker/ca.pem]
    #[arg(long, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file [default: ~/.docker/cert.pem]
    #[arg(long, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// Path to TLS key file [default: ~/.docker/key.pem]
    #[arg(long, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
    /// Seconds a client has to send a request's headers; also how long an idle keep-alive
    /// connection is kept [default: 60]
    #[arg(long, value_name = "SECONDS")]
    pub api_header_timeout: Option<u64>,
    /// Connections served at once; more wait in the listen queue [default: from the open
    /// files limit, at most 4096]
    #[arg(long, value_name = "N")]
    pub api_max_connections: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    pub container: String,
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change")]
    pub changes: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause container during commit (accepted; containers are not paused)
    #[arg(short, long, default_value_t = true)]
    pub pause: bool,
    pub container: String,
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the 'name:tag' format (repeatable)
    #[arg(short, long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (default: 'CONTEXT/Dockerfile'; '-' reads it from stdin)
    #[arg(short, long)]
    pub file: Option<PathBuf>,
    /// Set build-time variables (KEY=VALUE, or KEY to take it from the environment)
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_args: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Networking mode for the RUN instructions during build (host, none)
    #[arg(long, default_value = "host")]
    pub network: String,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    pub quiet: bool,
    /// Remove intermediate containers after a successful build (false is refused: they
    /// always are)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub rm: bool,
    /// Always remove intermediate containers (they always are, failed steps' too)
    #[arg(long)]
    pub force_rm: bool,
    /// Set metadata for an image (KEY=VALUE)
    #[arg(long = "label", value_name = "list")]
    pub labels: Vec<String>,
    /// Set platform if server is multi-platform capable (OS/ARCH[/VARIANT])
    #[arg(long)]
    pub platform: Option<String>,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Images to consider as cache sources
    #[arg(long, value_name = "strings")]
    pub cache_from: Vec<String>,
    /// Memory limit of RUN steps
    #[arg(short, long, value_name = "bytes")]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long, value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Size of /dev/shm in RUN steps
    #[arg(long, value_name = "bytes")]
    pub shm_size: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long, value_name = "int")]
    pub cpu_shares: Option<i64>,
    /// Limit the CPU CFS (Completely Fair Scheduler) period
    #[arg(long, value_name = "int")]
    pub cpu_period: Option<i64>,
    /// Limit the CPU CFS (Completely Fair Scheduler) quota
    #[arg(long, value_name = "int", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Ulimit options (NAME=SOFT[:HARD])
    #[arg(long, value_name = "ulimit")]
    pub ulimit: Vec<String>,
    /// Add a custom host-to-IP mapping (HOST:IP)
    #[arg(long, value_name = "list")]
    pub add_host: Vec<String>,
    /// Security options of RUN steps (seccomp=unconfined, no-new-privileges)
    #[arg(long, value_name = "strings")]
    pub security_opt: Vec<String>,
    /// Optional parent cgroup (refused: not supported)
    #[arg(long, value_name = "string")]
    pub cgroup_parent: Option<String>,
    /// Container isolation technology (only 'default')
    #[arg(long, value_name = "string")]
    pub isolation: Option<String>,
    /// Squash newly built layers into a single new layer (refused: experimental)
    #[arg(long)]
    pub squash: bool,
    /// The build context: a directory, or '-' for a tar (or a lone Dockerfile) on stdin
    pub context: String,
}

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// List containers
    #[command(alias = "list", alias = "ps")]
    Ls(PsArgs),
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Display detailed information on one or more containers
    Inspect {
        /// Format the output using the given Go template
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(WaitArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Pause all processes within one or more containers
    Pause(WaitArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Unpause all processes within one or more containers
    Unpause(WaitArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Remove all stopped containers
    Prune {
        /// Do not prompt for confirmation
        #[arg(short, long)]
        force: bool,
        /// Provide filter values (e.g. 'until=<timestamp>', 'label=<key>=<value>')
        #[arg(long = "filter")]
        filters: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Archive layout: docker (manifest.json and the OCI layout, as Docker 25 writes) or oci
    /// (the OCI image layout only)
    #[arg(long, value_enum, default_value = "docker")]
    pub format: SaveFormat,
    /// Images to save (names, tags or ids)
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// What `save` writes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SaveFormat {
    Docker,
    Oci,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, ...)
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable (only this host's is accepted)
    #[arg(long)]
    pub platform: Option<String>,
    /// The tarball (plain, gzip or zstd), or - for standard input
    pub file: String,
    /// Name and tag for the image
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable (OS/ARCH[/VARIANT])
    #[arg(long)]
    pub platform: Option<String>,
    /// NAME[:TAG|@DIGEST]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// NAME[:TAG]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (prefer --password-stdin)
    #[arg(short, long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// The registry (default: Docker Hub)
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided (dangling=true|false, reference=PATTERN, label, before, since)
    #[arg(short, long = "filter")]
    pub filters: Vec<String>,
    /// Format output using a Go template ({{.Repository}}, {{.Tag}}, {{.ID}}, ...; "table ...")
    #[arg(long)]
    pub format: Option<String>,
    /// Only images of this repository (and tag)
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    pub image: String,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Display detailed information on one or more images
    Inspect {
        /// Format the output using the given Go template
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag { source: String, target: String },
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Remove unused (dangling) images
    Prune {
        /// Remove all images without at least one container... (all unused images)
        #[arg(short, long)]
        all: bool,
        /// Do not prompt for confirmation
        #[arg(short, long)]
        force: bool,
        /// Provide filter values (e.g. 'until=<timestamp>', 'label=<key>=<value>')
        #[arg(long = "filter")]
        filters: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Pretty-print stats using a Go template ({{.ID}}, {{.Name}}, {{.CPUPerc}}, ...)
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// CONTAINER:SRC_PATH, or a local path ('-': a tar on standard input)
    #[arg(allow_hyphen_values = true)]
    pub src: String,
    /// CONTAINER:DEST_PATH, or a local path ('-': a tar on standard output)
    #[arg(allow_hyphen_values = true)]
    pub dest: String,
}

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create {
        /// Specify volume driver name
        #[arg(short, long, default_value = "local")]
        driver: String,
        /// Set metadata for a volume (KEY=VALUE, repeatable)
        #[arg(long = "label")]
        labels: Vec<String>,
        /// Set driver specific options (type=, device=, o=; repeatable)
        #[arg(short, long = "opt", value_name = "KEY=VALUE")]
        opts: Vec<String>,
        /// Specify volume name
        #[arg(long = "name", hide = true)]
        name_flag: Option<String>,
        /// The name (default: a random one)
        name: Option<String>,
    },
    /// List volumes
    #[command(alias = "list")]
    Ls {
        /// Only display volume names
        #[arg(short, long)]
        quiet: bool,
        /// Provide filter values (e.g. 'dangling=true', 'label=K[=V]', 'name=', 'driver=')
        #[arg(short, long = "filter")]
        filters: Vec<String>,
        /// Pretty-print volumes using a Go template
        #[arg(long)]
        format: Option<String>,
    },
    /// Display detailed information on one or more volumes
    Inspect {
        /// Format the output using the given Go template
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm {
        /// Force the removal of one or more volumes
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove all unused local volumes
    Prune {
        /// Do not prompt for confirmation
        #[arg(short, long)]
        force: bool,
        /// Provide filter values (e.g. 'label=<label>')
        #[arg(long = "filter")]
        filters: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum LayerCommand {
    /// Store a layer from a tar archive (plain, gzip or zstd); prints its chain id
    Import {
        /// The archive, or - for standard input
        file: PathBuf,
        /// Chain id of the layer to put it on
        #[arg(long)]
        parent: Option<String>,
    },
    /// List layers
    #[command(alias = "list")]
    Ls {
        /// Only print chain ids
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write a layer's tar (its changes on its parent) to a file or standard output
    Export {
        chain_id: String,
        /// Write to a file instead of standard output
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// List what a layer changes on its parent (A added, C changed, D deleted)
    Diff { chain_id: String },
    /// Remove one or more layers
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        chain_ids: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_takes_the_command_after_the_image_verbatim() {
        let cli =
            Cli::try_parse_from(["engine", "run", "-d", "busybox", "sh", "-c", "echo -d"]).unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run");
        };
        let args = args.split();
        assert!(args.detach);
        assert_eq!(args.image, "busybox");
        assert_eq!(args.command, ["sh", "-c", "echo -d"]);
        let cli = Cli::try_parse_from(["engine", "run", "busybox", "-d"]).unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run");
        };
        let args = args.split();
        assert!(!args.detach);
        assert_eq!(args.command, ["-d"]);
    }
}

/// `run`/`create` flags of confinement and resources (Docker's names and syntax).
#[derive(Debug, Args, Default)]
pub struct SecurityArgs {
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Add Linux capabilities
    #[arg(long, value_name = "list")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long, value_name = "list")]
    pub cap_drop: Vec<String>,
    /// Add a host device to the container (HOST[:CONTAINER][:rwm])
    #[arg(long, value_name = "list")]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list ('c 42:* rmw')
    #[arg(long, value_name = "list")]
    pub device_cgroup_rule: Vec<String>,
    /// Security Options (seccomp=unconfined|PROFILE.json, no-new-privileges, ...)
    #[arg(long, value_name = "list")]
    pub security_opt: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    pub read_only: bool,
    /// Mount a tmpfs directory (PATH[:OPTIONS])
    #[arg(long, value_name = "list")]
    pub tmpfs: Vec<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Ulimit options (NAME=SOFT[:HARD])
    #[arg(long, value_name = "ulimit")]
    pub ulimit: Vec<String>,
    /// Number of CPUs
    #[arg(long, value_name = "decimal")]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long, value_name = "int")]
    pub cpu_shares: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long, value_name = "int")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long, value_name = "int", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Disable OOM Killer
    #[arg(long)]
    pub oom_kill_disable: bool,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Size of /dev/shm
    #[arg(long, value_name = "bytes")]
    pub shm_size: Option<String>,
    /// Sysctl options (KEY=VALUE)
    #[arg(long, value_name = "map")]
    pub sysctl: Vec<String>,
}

impl SecurityArgs {
    /// The flags as the `HostConfig` fields they set; a seccomp profile file is read here and
    /// travels as its JSON, as Docker's CLI sends it.
    pub fn confinement(&self) -> anyhow::Result<engine_core::container::confinement::Confinement> {
        use anyhow::{Context, bail};
        use engine_core::container::confinement::{Confinement, DeviceMapping, Ulimit};
        let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        let mut security_opt = Vec::new();
        for opt in &self.security_opt {
            let (key, value) = opt
                .split_once('=')
                .or_else(|| opt.split_once(':'))
                .unwrap_or((opt, ""));
            if key == "seccomp"
                && !matches!(value, "unconfined" | "builtin" | "default")
                && !value.trim_start().starts_with('{')
            {
                let json = std::fs::read_to_string(value)
                    .with_context(|| format!("opening seccomp profile ({value}) failed"))?;
                security_opt.push(format!("seccomp={json}"));
            } else {
                security_opt.push(opt.clone());
            }
        }
        let nano_cpus = match &self.cpus {
            None => 0,
            Some(c) => {
                let v: f64 = c
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                    .with_context(|| format!("invalid argument {c:?} for \"--cpus\" flag"))?;
                (v * 1e9).round() as i64
            }
        };
        let mut tmpfs = std::collections::BTreeMap::new();
        for t in &self.tmpfs {
            let (path, opts) = t.split_once(':').unwrap_or((t, ""));
            tmpfs.insert(path.to_string(), opts.to_string());
        }
        let mut sysctls = std::collections::BTreeMap::new();
        for kv in &self.sysctl {
            let Some((k, v)) = kv.split_once('=') else {
                bail!("invalid argument {kv:?} for \"--sysctl\" flag: want KEY=VALUE");
            };
            sysctls.insert(k.to_string(), v.to_string());
        }
        let shm_size = match &self.shm_size {
            None => 0,
            Some(s) => graph::options::parse_bytes(s)
                .with_context(|| format!("invalid argument {s:?} for \"--shm-size\" flag"))?
                as i64,
        };
        Ok(Confinement {
            privileged: self.privileged,
            cap_add: some(&self.cap_add),
            cap_drop: some(&self.cap_drop),
            devices: (!self.device.is_empty())
                .then(|| {
                    self.device
                        .iter()
                        .map(|d| DeviceMapping::parse(d))
                        .collect()
                })
                .transpose()?,
            device_cgroup_rules: some(&self.device_cgroup_rule),
            security_opt: (!security_opt.is_empty()).then_some(security_opt),
            readonly_rootfs: self.read_only,
            tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
            pids_limit: self.pids_limit,
            ulimits: (!self.ulimit.is_empty())
                .then(|| self.ulimit.iter().map(|u| Ulimit::parse(u)).collect())
                .transpose()?,
            nano_cpus,
            cpu_shares: self.cpu_shares.unwrap_or(0),
            cpu_period: self.cpu_period.unwrap_or(0),
            cpu_quota: self.cpu_quota.unwrap_or(0),
            cpuset_cpus: self.cpuset_cpus.clone().unwrap_or_default(),
            cpuset_mems: self.cpuset_mems.clone().unwrap_or_default(),
            oom_kill_disable: self.oom_kill_disable.then_some(true),
            init: self.init.then_some(true),
            shm_size,
            sysctls: (!sysctls.is_empty()).then_some(sysctls),
            // The CLI says `--security-opt systempaths=unconfined`; the lists are the API's.
            masked_paths: None,
            readonly_paths: None,
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network
    Create(NetworkCreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(NetworkLsArgs),
    /// Display detailed information on one or more networks
    Inspect {
        #[arg(required = true)]
        networks: Vec<String>,
        /// Format the output using the given Go template
        #[arg(short, long)]
        format: Option<String>,
    },
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove all unused networks
    Prune {
        /// Do not prompt for confirmation
        #[arg(short, long)]
        force: bool,
        /// Provide filter values (e.g. 'until=<timestamp>', 'label=<key>=<value>')
        #[arg(long = "filter")]
        filters: Vec<String>,
    },
    /// Connect a container to a network
    Connect(NetworkConnectArgs),
    /// Disconnect a container from a network
    Disconnect {
        network: String,
        container: String,
        /// Force the container to disconnect from a network
        #[arg(short, long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct NetworkCreateArgs {
    pub name: String,
    /// Driver to manage the Network
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Option<String>,
    /// IPv4 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Option<String>,
    /// Allocate container ip from a sub-range (not supported)
    #[arg(long)]
    pub ip_range: Option<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Enable IPv6 networking (not supported)
    #[arg(long)]
    pub ipv6: bool,
    /// Set metadata on a network
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Set driver specific options
    #[arg(short, long = "opt", value_name = "KEY=VALUE")]
    pub opts: Vec<String>,
    /// IP Address Management Driver
    #[arg(long, default_value = "default")]
    pub ipam_driver: String,
}

#[derive(Debug, Args)]
pub struct NetworkLsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not truncate the output
    #[arg(long)]
    pub no_trunc: bool,
    /// Provide filter values (e.g. 'driver=bridge', 'name=x', 'label=k=v', 'id=...')
    #[arg(short, long = "filter")]
    pub filters: Vec<String>,
    /// Pretty-print networks using a Go template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct NetworkConnectArgs {
    pub network: String,
    pub container: String,
    /// Add network-scoped alias for the container
    #[arg(long = "alias")]
    pub aliases: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show engine disk usage
    Df,
}

#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Remove build cache (the step index; the steps' images go with `image prune`)
    Prune {
        /// Remove all unused build cache, not just dangling ones
        #[arg(short, long)]
        all: bool,
        /// Do not prompt for confirmation
        #[arg(short, long)]
        force: bool,
        /// Provide filter values (e.g. 'until=24h')
        #[arg(long = "filter")]
        filters: Vec<String>,
    },
}
