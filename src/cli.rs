//! The command line. `hearth serve` (the default) runs the server; the other
//! commands are the owner's console tools and the OS image's scripting
//! surface. Exit codes: 0 ok, 2 usage error, 1 anything else, with a one-line
//! message on stderr.

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::admin::users::{self, Manager, NewUserInput, UserUpdate};
use crate::app::AppState;
use crate::audit::Actor;
use crate::auth;
use crate::config::{Config, LogFormat, Overrides};
use crate::error::AppError;
use crate::store::Role;
use crate::store::User;

#[derive(Parser)]
#[command(name = "hearth", version, about = "Hearth: the office's own AI box.")]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args, Clone)]
struct GlobalArgs {
    /// Configuration file [default: /etc/hearth/hearth.toml if it exists]
    #[arg(long, global = true, env = "HEARTH_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (database, documents, models, backups)
    #[arg(long, global = true, env = "HEARTH_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address and port to listen on, e.g. 0.0.0.0:80
    #[arg(long, global = true, env = "HEARTH_LISTEN", value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server (the default command)
    Serve,
    /// Manage user accounts from the console
    #[command(subcommand)]
    User(UserCommand),
    /// Manage the models in the data directory's models/
    #[command(subcommand)]
    Model(ModelCommand),
    /// Office documents
    #[command(subcommand)]
    Docs(DocsCommand),
    /// Print the effective configuration as TOML
    Config,
    /// Print the paths of the llama.cpp libraries this binary runs with, one
    /// per line, for packaging it: the shared libraries it links and a CPU
    /// kernel library per CPU generation (nothing when llama.cpp is linked in)
    EngineLibraries,
    /// The box's own screen: its address and, until the owner exists, the
    /// setup code, in large letters (the appliance runs it on tty1 and the
    /// serial console)
    Console {
        /// The status file Hearth keeps [default: [appliance] status_file]
        #[arg(long, value_name = "FILE")]
        status: Option<PathBuf>,
        /// Draw the screen once and exit
        #[arg(long)]
        once: bool,
    },
    /// The office network
    #[command(subcommand)]
    Lan(LanCommand),
    /// Updates of the appliance (the appliance's own units run these)
    #[command(subcommand)]
    Update(UpdateCommand),
    /// The audit log's proof against alteration
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write an encrypted backup of the office's data (database, documents,
    /// keys, configuration) into a directory, e.g. a USB drive; asks for the
    /// recovery passphrase (or reads it from stdin)
    Backup {
        /// The directory to write the archive into
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// Include the model files too (large; they can be fetched again)
        #[arg(long)]
        with_models: bool,
        /// After writing, keep only the newest archive of each of the last N
        /// days in the directory (with --keep-weekly, also each of the last
        /// M weeks); older ones are deleted
        #[arg(long, value_name = "N")]
        keep_daily: Option<usize>,
        /// See --keep-daily
        #[arg(long, value_name = "M")]
        keep_weekly: Option<usize>,
    },
    /// Restore a backup onto this box (a fresh one, unless --force); Hearth
    /// must not be running on this data directory; asks for the recovery
    /// passphrase (or reads it from stdin)
    Restore {
        /// The .hearthbackup file
        archive: PathBuf,
        /// Replace the data of a box that already has accounts
        #[arg(long)]
        force: bool,
    },
    /// Remote maintenance by SSH, as the owner chose on Admin → System
    #[command(subcommand)]
    Ssh(SshCommand),
    /// Measure the assistant through the HTTP API against a bare llama.cpp loop
    Bench {
        /// The GGUF model [default: the configured model]
        #[arg(long)]
        model: Option<PathBuf>,
        /// Threads [default: one per physical core]
        #[arg(long)]
        threads: Option<u32>,
        /// Answer tokens per measured chat
        #[arg(long, default_value_t = 128)]
        tokens: usize,
        /// Repetitions of the single-chat measurements
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Chats the servers answer at once (their slots)
        #[arg(long, default_value_t = 4)]
        parallel: u32,
        /// Also measure llama.cpp's own llama-server at this path, with the
        /// same model, threads and slots, in the same interleaved rounds
        #[arg(long, value_name = "PATH")]
        peer_server: Option<PathBuf>,
        /// Measure documents instead: ingestion, and search over HTTP against
        /// raw tantivy at these numbers of chunks (e.g. --docs 10000,100000)
        #[arg(long, value_delimiter = ',', value_name = "CHUNKS")]
        docs: Vec<usize>,
        /// Measure scheduling instead: availability over HTTP for 20 staff,
        /// 6 rooms and 8 weeks of bookings, against the engine alone
        #[arg(long)]
        schedule: bool,
        /// Evaluate the scheduling assistant instead: 200+ requests through
        /// the API with the model, against their expected interpretations
        #[arg(long)]
        assistant: bool,
        /// Measure only what a grammar costs per token (answers that must be
        /// JSON of a schema), against free decoding; --runs rounds
        #[arg(long)]
        grammar: bool,
        /// Report redaction's recall and precision per kind on its labelled
        /// corpus and held-out samples, and its speed
        #[arg(long)]
        redaction: bool,
        /// Measure backups instead: backup and restore MB/s of a data
        /// directory of --backup-gb GB of documents and --backup-chunks
        /// chunks, and search latency during a backup against idle
        #[arg(long)]
        backup: bool,
        /// GB of stored documents for --backup
        #[arg(long, default_value_t = 5.0)]
        backup_gb: f64,
        /// Chunks of searchable text for --backup
        #[arg(long, default_value_t = 100_000)]
        backup_chunks: usize,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every entry against the hash chain and the signed checkpoints;
    /// exits with status 1 and names the first altered or missing entry
    /// when the log was tampered with
    Verify {
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Sign a checkpoint of the log's current head now (Hearth also does
    /// every `[audit] checkpoint_minutes`) and print it
    Checkpoint,
}

#[derive(Subcommand)]
enum DocsCommand {
    /// Import files and folders (e.g. a USB stick) into a collection; works
    /// whether or not the server is running
    Import {
        /// Files or folders (folders are read recursively; hidden files are skipped)
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The shared collection to import into (created, for owners and
        /// admins, if it does not exist)
        #[arg(long)]
        collection: String,
    },
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Check a GGUF model file and copy it into the models directory
    Add { file: PathBuf },
    /// List the models with what their headers say
    List,
}

#[derive(Subcommand)]
enum LanCommand {
    /// Look a name up by multicast DNS, as phones and laptops do (e.g.
    /// hearth.local); prints its addresses, exits 1 if nothing answers
    Resolve {
        name: String,
        /// Seconds to wait for an answer
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
}

#[derive(Subcommand)]
enum SshCommand {
    /// As root: make the system match the owner's choice (hearth-ssh.service)
    Apply,
}

#[derive(Subcommand)]
enum UpdateCommand {
    /// As root: install the update the owner asked for into the other slot
    /// and restart into it (hearth-update.service)
    Apply {
        /// Install, but do not restart the box
        #[arg(long)]
        no_restart: bool,
        /// Read the kernel command line from this file [default: /proc/cmdline]
        #[arg(long, value_name = "FILE", hide = true)]
        cmdline: Option<PathBuf>,
    },
    /// As root, before Hearth starts: notice an update that failed and put
    /// the data back as it was (hearth-update-recover.service)
    Recover {
        #[arg(long, value_name = "FILE", hide = true)]
        cmdline: Option<PathBuf>,
    },
    /// After Hearth starts: confirm the version being tried, or fail so the
    /// box tries again and then goes back (hearth-health.service)
    Health {
        #[arg(long, value_name = "FILE", hide = true)]
        cmdline: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from stdin when it is not a terminal
    Add {
        username: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Full name [default: the username]
        #[arg(long)]
        name: Option<String>,
    },
    /// Set a new password (ends the user's sessions)
    Passwd { username: String },
    /// List users
    List,
    /// Disable a user: their sessions end and their API keys stop at once
    Disable { username: String },
    /// Enable a disabled user
    Enable { username: String },
    /// Create a personal API key for a user and print it (shown once)
    ApiKey {
        username: String,
        #[arg(long, default_value = "console")]
        name: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    // The extraction child: no configuration, no runtime, no logging to
    // stderr beyond its own; its answer is one JSON document on stdout.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == crate::extract::SUBCOMMAND) {
        return match args.get(2..) {
            Some([path]) => crate::extract::child_main(
                std::path::Path::new(path),
                &crate::extract::Limits::from_env(),
            ),
            _ => {
                eprintln!("hearth: extract-file takes one path (it is used by the server)");
                ExitCode::from(2)
            }
        };
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return match err.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hearth: {}", one_line(&err));
            ExitCode::from(1)
        }
    }
}

fn update_command(
    config: &Config,
    command: UpdateCommand,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    use crate::appliance::update::UpdateFiles;
    use crate::appliance::update::apply::{self, Layout, Then};
    let files = UpdateFiles::new(&config.data_dir);
    let database = config.database_path();
    match command {
        UpdateCommand::Apply {
            no_restart,
            cmdline,
        } => {
            let then = if no_restart {
                Then::Stay
            } else {
                Then::Restart
            };
            apply::apply(
                &files,
                &Layout::new(&config.appliance, cmdline),
                &database,
                then,
            )
        }
        UpdateCommand::Recover { cmdline } => {
            apply::recover(&files, &Layout::new(&config.appliance, cmdline), &database)
        }
        UpdateCommand::Health { cmdline } => runtime.block_on(apply::health(
            &files,
            &Layout::new(&config.appliance, cmdline),
            config.server.listen.port(),
            Duration::from_secs(config.appliance.health_timeout_secs),
        )),
    }
}

fn one_line(err: &anyhow::Error) -> String {
    format!("{err:#}").replace('\n', " ")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let overrides = Overrides {
        config_file: cli.global.config.clone(),
        data_dir: cli.global.data_dir.clone(),
        listen: cli.global.listen,
    };
    let config = Config::load(&overrides)?;
    let command = cli.command.unwrap_or(Command::Serve);
    let serving = matches!(command, Command::Serve);
    init_tracing(&config, serving);
    crate::memory::limit_arenas();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hearth-rt")
        // Blocking work (SQLite, argon2, file I/O) is short; 512 threads (the
        // default) under a burst of clients each kept their stacks and
        // allocator caches long after it ended.
        .max_blocking_threads(64)
        .build()
        .context("cannot start the async runtime")?;
    match command {
        Command::Serve => runtime.block_on(crate::app::serve(config)),
        Command::Config => {
            print!("{}", config.to_toml());
            Ok(())
        }
        Command::EngineLibraries => {
            for file in crate::llm::engine_library_files().map_err(anyhow::Error::msg)? {
                println!("{}", file.display());
            }
            Ok(())
        }
        Command::Console { status, once } => {
            let Some(path) = status.or(config.appliance.status_file.clone()) else {
                bail!(
                    "hearth console needs the status file: pass --status FILE or set [appliance] status_file"
                );
            };
            crate::appliance::console::run(&path, once)
        }
        Command::Update(command) => update_command(&config, command, &runtime),
        Command::Audit(command) => runtime.block_on(audit_command(config, command)),
        Command::Backup {
            to,
            with_models,
            keep_daily,
            keep_weekly,
        } => {
            let passphrase = read_new_password("Recovery passphrase")?;
            let now = jiff::Timestamp::now().as_second();
            let written = crate::backup::write(&config, &to, &passphrase, now, with_models)?;
            record_console(
                &config,
                &runtime,
                crate::audit::Event::ok("backup.created", crate::audit::Target::Nothing).detail(
                    format!(
                        "{} ({})",
                        written.path.display(),
                        crate::disk::human_size(written.bytes)
                    ),
                ),
            );
            println!(
                "Backed up {} files into {} ({}). Keep the recovery passphrase somewhere safe: without it the backup cannot be opened.",
                written.files,
                written.path.display(),
                crate::disk::human_size(written.bytes)
            );
            if keep_daily.is_some() || keep_weekly.is_some() {
                let retention = crate::backup::Retention {
                    // The one just written always stays.
                    daily: keep_daily.unwrap_or(0).max(1),
                    weekly: keep_weekly.unwrap_or(0),
                };
                for name in crate::backup::prune(&to, retention)? {
                    println!("Removed the older backup {name}.");
                }
            }
            Ok(())
        }
        Command::Restore { archive, force } => {
            let passphrase = read_passphrase("Recovery passphrase")?;
            let restored = crate::backup::restore(&config, &archive, &passphrase, force)?;
            record_console(
                &config,
                &runtime,
                crate::audit::Event::ok("backup.restored", crate::audit::Target::Nothing).detail(
                    format!(
                        "from {}, written {}",
                        archive.display(),
                        crate::text::utc_time(restored.created_at)
                    ),
                ),
            );
            println!(
                "Restored {} files from the backup of {}. Everyone signs in again; the search index is rebuilt when Hearth starts.",
                restored.files,
                crate::text::utc_time(restored.created_at)
            );
            if !restored.missing_models.is_empty() {
                println!(
                    "Models the backed-up box had that are not here: {} (add them on Admin → Models).",
                    restored.missing_models.join(", ")
                );
            }
            Ok(())
        }
        Command::Ssh(SshCommand::Apply) => {
            let files = crate::appliance::ssh::SshFiles::new(&config.data_dir);
            let state = crate::appliance::ssh::apply(&files, std::path::Path::new("/"))?;
            println!("{}", state.message);
            Ok(())
        }
        Command::Lan(LanCommand::Resolve { name, timeout }) => {
            let found = crate::appliance::lan::resolve(&name, Duration::from_secs(timeout.max(1)))?;
            if found.is_empty() {
                bail!("nothing on the network answered for {name} within {timeout} s");
            }
            for ip in found {
                println!("{ip}");
            }
            Ok(())
        }
        Command::User(command) => runtime.block_on(user_command(config, command)),
        Command::Model(command) => runtime.block_on(model_command(config, command)),
        Command::Docs(DocsCommand::Import { paths, collection }) => {
            let all_indexed = runtime.block_on(crate::docs::import::run_console_import(
                config,
                paths,
                &collection,
            ))?;
            if !all_indexed {
                bail!("some files could not be imported (listed above)");
            }
            Ok(())
        }
        Command::Bench { schedule: true, .. } => runtime.block_on(crate::bench::schedule::run()),
        Command::Bench {
            backup: true,
            backup_gb,
            backup_chunks,
            model,
            ..
        } => runtime.block_on(crate::bench::backup::run(
            backup_gb.max(0.0),
            backup_chunks.max(100),
            Some(model.unwrap_or_else(|| config.configured_model())),
        )),
        Command::Bench {
            redaction: true, ..
        } => {
            crate::bench::redaction::run();
            Ok(())
        }
        Command::Bench {
            assistant: true,
            model,
            threads,
            ..
        } => runtime.block_on(crate::bench::assistant::run(
            model.unwrap_or_else(|| config.configured_model()),
            threads.unwrap_or_else(crate::llm::hardware::physical_cores),
        )),
        Command::Bench { docs, .. } if !docs.is_empty() => {
            runtime.block_on(crate::bench::docs::run(docs))
        }
        #[cfg(not(feature = "llama"))]
        Command::Bench { .. } => bail!(
            "hearth bench measures the model, and {}",
            crate::llm::WITHOUT_LLAMA
        ),
        #[cfg(feature = "llama")]
        Command::Bench {
            model,
            threads,
            tokens,
            runs,
            grammar,
            parallel,
            peer_server,
            ..
        } => {
            if let Some(peer) = &peer_server
                && !peer.is_file()
            {
                bail!("no llama-server at {}", peer.display());
            }
            let options = crate::bench::BenchOptions {
                model: model.unwrap_or_else(|| config.configured_model()),
                threads: threads.unwrap_or_else(crate::llm::hardware::physical_cores),
                tokens: tokens.max(8),
                runs: runs.max(1),
                parallel: parallel.clamp(1, 16),
                peer_server,
            };
            if grammar {
                runtime.block_on(crate::bench::grammar::run(options))
            } else {
                runtime.block_on(crate::bench::run(options))
            }
        }
    }
}

fn init_tracing(config: &Config, serving: bool) {
    // Console commands log only warnings, so their output stays readable.
    let default = if serving {
        config.log.filter.as_str()
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only for a person at a terminal: piped into a file or the
    // journal, escape codes are noise around the setup code.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn audit_command(config: Config, command: AuditCommand) -> anyhow::Result<()> {
    let state = AppState::for_console(config).await?;
    match command {
        AuditCommand::Verify { json } => {
            let verdict = state
                .ledger
                .verify_recorded(&state.store, Actor::Console, "")
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&verdict)?);
            } else {
                println!("{}", verdict.summary());
                println!("This box's checkpoint key: {}", verdict.fingerprint);
            }
            if !verdict.intact() {
                std::process::exit(1);
            }
            Ok(())
        }
        AuditCommand::Checkpoint => {
            let signed = state.ledger.checkpoint(&state.store).await?;
            if signed.is_empty() {
                println!("The newest checkpoints already cover the whole of each log.");
            }
            for c in signed {
                println!(
                    "Signed: the {} log has {} entries, the newest hashes to {} ({}).",
                    c.log,
                    c.seq,
                    c.head,
                    crate::text::utc_time(c.at)
                );
            }
            println!(
                "Checkpoints: {}",
                state.ledger.checkpoints().path().display()
            );
            Ok(())
        }
    }
}

async fn user_command(config: Config, command: UserCommand) -> anyhow::Result<()> {
    let state = AppState::for_console(config).await?;
    match command {
        UserCommand::Add {
            username,
            role,
            name,
        } => {
            let password = read_new_password(&format!("Password for {username}"))?;
            let input = NewUserInput {
                display_name: name.unwrap_or_else(|| username.clone()),
                username,
                role: Some(role),
                password,
            };
            let user = users::create_user(&state, Manager::Console, &input, "")
                .await
                .map_err(explain)?;
            println!(
                "added {} ({}) as {}",
                user.username, user.display_name, user.role
            );
            if role == Role::Owner && state.auth.is_set_up(&state.store).await? {
                println!("setup is complete; sign in at the web page");
            }
        }
        UserCommand::Passwd { username } => {
            let user = find(&state, &username).await?;
            let password = read_new_password(&format!("New password for {}", user.username))?;
            users::reset_password(&state, Manager::Console, user.id, &password, "")
                .await
                .map_err(explain)?;
            println!(
                "password changed for {}; their sessions were ended",
                user.username
            );
        }
        UserCommand::List => {
            let users = state.store.users().await?;
            println!(
                "{:<24} {:<8} {:<9} {:<17} NAME",
                "USERNAME", "ROLE", "STATUS", "LAST LOGIN"
            );
            for user in users {
                println!(
                    "{:<24} {:<8} {:<9} {:<17} {}",
                    user.username,
                    user.role,
                    if user.disabled { "disabled" } else { "active" },
                    crate::web::layout::format_time_or_never(&user.last_login_at),
                    user.display_name
                );
            }
        }
        UserCommand::Disable { username } => set_disabled(&state, &username, true).await?,
        UserCommand::Enable { username } => set_disabled(&state, &username, false).await?,
        UserCommand::ApiKey { username, name } => {
            let user = find(&state, &username).await?;
            if user.disabled {
                bail!("{} is disabled; enable the account first", user.username);
            }
            let created = auth::issue_api_key(&state, &user, &name, Actor::Console, "")
                .await
                .map_err(explain)?;
            println!("{}", created.key);
        }
    }
    Ok(())
}

async fn model_command(config: Config, command: ModelCommand) -> anyhow::Result<()> {
    let state = AppState::for_console(config).await?;
    match command {
        ModelCommand::Add { file } => {
            let (name, info) = crate::chat::models::add_from_file(&state, &file).await?;
            println!(
                "added {name}: {} {}, {} parameters; choose it under Admin → Models",
                info.architecture.as_deref().unwrap_or("unknown"),
                info.quantization,
                info.parameters_label()
            );
        }
        ModelCommand::List => {
            for entry in crate::chat::models::list_models(&state) {
                let details = match &entry.info {
                    Ok(info) => format!(
                        "{} {} {}",
                        info.architecture.as_deref().unwrap_or("?"),
                        info.quantization,
                        info.parameters_label()
                    ),
                    Err(err) => format!("unusable: {err}"),
                };
                println!("{:<48} {:>8}  {details}", entry.file_name, entry.size);
            }
        }
    }
    Ok(())
}

async fn set_disabled(state: &AppState, username: &str, disabled: bool) -> anyhow::Result<()> {
    let user = find(state, username).await?;
    let update = UserUpdate {
        disabled: Some(disabled),
        ..UserUpdate::default()
    };
    users::update_user(state, Manager::Console, user.id, &update, "")
        .await
        .map_err(explain)?;
    if disabled {
        println!(
            "{} is disabled; their sessions and API keys no longer work",
            user.username
        );
    } else {
        println!("{} is enabled", user.username);
    }
    Ok(())
}

async fn find(state: &AppState, username: &str) -> anyhow::Result<User> {
    match state
        .store
        .user_by_username(&username.trim().to_lowercase())
        .await?
    {
        Some(found) => Ok(found.user),
        None => bail!("there is no user named {username:?}; see `hearth user list`"),
    }
}

/// Turns a web-layer error into a console message.
fn explain(err: AppError) -> anyhow::Error {
    match err {
        AppError::Internal(inner) => inner,
        other => anyhow::anyhow!("{other}"),
    }
}

/// Prompts twice on a terminal; otherwise reads one line from stdin (for
/// scripts: `echo "$PASSWORD" | hearth user add ...`).
/// Records a console action in the audit log; a failure is said, not fatal
/// (the action itself is done).
fn record_console(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
    event: crate::audit::Event<'_>,
) {
    let recorded = runtime.block_on(async {
        let store = crate::store::Store::open(&config.database_path())?;
        crate::audit::record(&store, Actor::Console, "", event).await?;
        anyhow::Ok(())
    });
    if let Err(err) = recorded {
        eprintln!("note: this was not recorded in the audit log: {err:#}");
    }
}

/// A secret asked once (to open something, not to set it).
fn read_passphrase(prompt: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        return Ok(rpassword::prompt_password(format!("{prompt}: "))?);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the passphrase from stdin")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn read_new_password(prompt: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("{prompt}: "))?;
        let second = rpassword::prompt_password("Again: ")?;
        if first != second {
            bail!("the two passwords differ");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        bail!("no password on stdin; pipe one in, e.g. `echo \"$PASSWORD\" | hearth user add ...`");
    }
    let _ = std::io::stderr().flush();
    Ok(password)
}
