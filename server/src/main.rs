//! The `drydock` command: serve the platform, migrate the database, build lab images.

use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Instant};

use clap::{Parser, Subcommand};
use drydock::{
    config::Config,
    db::Db,
    docker::{
        engine::Engine,
        images::{BuildOutcome, LabImage},
    },
    grading::service::GradingService,
    telemetry, Application,
};

#[derive(Parser)]
#[command(
    name = "drydock",
    version,
    about = "Learn Docker and container security by doing"
)]
struct Cli {
    /// Optional TOML configuration file (environment variables override it).
    #[arg(long, short, global = true, env = "DRYDOCK_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web application (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Lab base images under content/images/.
    Images {
        #[command(subcommand)]
        command: ImagesCommand,
    },
    /// Lessons and other content under content/.
    Content {
        #[command(subcommand)]
        command: ContentCommand,
    },
    /// User accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Grade a submission for an exercise from a file, without storing it
    /// (for authors). The file holds a `docker run` command, a compose
    /// service, a Dockerfile (its directory's other files become the build
    /// context with --context) or a flag value, as the exercise expects.
    Grade {
        #[arg(long)]
        exercise: String,
        /// The submission; `-` reads standard input.
        file: PathBuf,
        /// Read a run exercise's file as a compose service.
        #[arg(long)]
        compose: bool,
        /// A directory whose files (up to 32, 256 KiB) form a Dockerfile's build context.
        #[arg(long)]
        context: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-grade stored submissions of an exercise after its checks changed.
    Regrade {
        #[arg(long)]
        exercise: String,
        /// Re-grade every submission, not only those graded under an older rubric.
        #[arg(long)]
        all: bool,
    },
    /// Exit 0 when a running server answers /healthz (for container health checks).
    Health {
        /// Address of the server.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: String,
    },
}

#[derive(Subcommand)]
enum ImagesCommand {
    /// Build every lab image (or the named ones) offline; unchanged ones are skipped.
    Build {
        /// Image directory names; all when empty.
        names: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ContentCommand {
    /// Validate every content file; prints `file:line: message` per problem
    /// and exits non-zero when there is any.
    Check {
        /// Content directory (default: the configured one, `content/`).
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account (e.g. the first admin). The password is read from a
    /// prompt, or from the first line of standard input — never from arguments.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = ["learner", "instructor", "admin"])]
        role: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("drydock: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&config.log);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
        Command::Images {
            command: ImagesCommand::Build { names },
        } => build_images(config, names).await,
        Command::Content {
            command: ContentCommand::Check { dir },
        } => check_content(&dir.unwrap_or(config.content_dir)),
        Command::User {
            command: UserCommand::Create { username, role },
        } => create_user(config, &username, &role).await,
        Command::Grade {
            exercise,
            file,
            compose,
            context,
            json,
        } => grade(config, &exercise, &file, compose, context.as_deref(), json).await,
        Command::Regrade { exercise, all } => regrade(config, &exercise, all).await,
        Command::Health { addr } => health(&addr).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("drydock: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    tracing::info!("Drydock listening on http://{}", app.local_addr());
    app.run_until_stopped().await?;
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    db.migrate().await?;
    println!("database migrated ({})", db.backend().name());
    Ok(())
}

async fn build_images(config: Config, names: Vec<String>) -> anyhow::Result<()> {
    let engine = Engine::connect(
        config.docker_host.as_deref(),
        std::time::Duration::from_secs(10),
    )?;
    let images = LabImage::load_all(&config.content_dir.join("images"))?;
    if let Some(unknown) = names.iter().find(|n| !images.iter().any(|i| &i.name == *n)) {
        anyhow::bail!(
            "no image definition named {unknown:?} under {}",
            config.content_dir.join("images").display()
        );
    }
    for image in images
        .iter()
        .filter(|i| names.is_empty() || names.contains(&i.name))
    {
        let started = Instant::now();
        let outcome = image.build(&engine).await?;
        let what = match outcome {
            BuildOutcome::Built => "built",
            BuildOutcome::UpToDate => "up to date",
        };
        println!(
            "{:<12} {:<28} {what} ({:.1}s)",
            image.name,
            image.tag,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn check_content(dir: &std::path::Path) -> anyhow::Result<()> {
    match drydock::content::load::load(dir) {
        Ok(catalog) => {
            let questions: usize = catalog.lessons.iter().map(|l| l.quiz.len()).sum();
            println!(
                "{}: {} tracks, {} lessons, {} quiz questions — no problems",
                dir.display(),
                catalog.tracks.len(),
                catalog.lessons.len(),
                questions
            );
            Ok(())
        }
        Err(problems) => {
            for problem in &problems {
                println!("{problem}");
            }
            anyhow::bail!("{} problem(s) in {}", problems.len(), dir.display())
        }
    }
}

async fn create_user(config: Config, username: &str, role: &str) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let role: drydock::db::users::Role = role.parse()?;
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {username}: "))?;
        let again = rpassword::prompt_password("Repeat it: ")?;
        anyhow::ensure!(
            first == again,
            "the two passwords differ; nothing was created"
        );
        first
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    let db = Db::connect(&config.database_url).await?;
    db.migrate().await?;
    let user = drydock::accounts::service::create_user(
        &db,
        username,
        &password,
        role,
        config.auth.min_password_len,
    )
    .await
    .map_err(|e| anyhow::anyhow!(e.user_message()))?;
    println!(
        "created {} ({}) with id {}",
        user.username, user.role, user.id
    );
    Ok(())
}

/// The grader with its own engine connection, for the command line.
async fn grader(config: Config) -> anyhow::Result<GradingService> {
    let content = drydock::content::load::load(&config.content_dir).map_err(|problems| {
        anyhow::anyhow!(
            "the content has {} problem(s); run `drydock content check`",
            problems.len()
        )
    })?;
    let engine = Engine::connect(
        config.docker_host.as_deref(),
        std::time::Duration::from_secs(config.docker_timeout_secs.max(10)),
    )?;
    let db = Db::connect(&config.database_url).await?;
    db.migrate().await?;
    Ok(GradingService::new(
        db,
        Arc::new(engine),
        Arc::new(content),
        Arc::new(config),
    ))
}

async fn grade(
    config: Config,
    exercise_id: &str,
    file: &std::path::Path,
    compose: bool,
    context: Option<&std::path::Path>,
    json: bool,
) -> anyhow::Result<()> {
    use drydock::content::model::ExerciseKind;
    use drydock_app::api_exercises::Submission;
    let text = if file == std::path::Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        text
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
    };
    let grader = grader(config).await?;
    let exercise = grader
        .exercise(exercise_id)
        .map_err(|e| anyhow::anyhow!(e.user_message()))?;
    let submission = match exercise.def.kind {
        ExerciseKind::Run | ExerciseKind::Compose if compose || exercise.def.kind == ExerciseKind::Compose && !text.trim_start().starts_with("docker") => {
            Submission::Compose { service: text }
        }
        ExerciseKind::Run | ExerciseKind::Compose => Submission::Run { command: text },
        ExerciseKind::Dockerfile => {
            let mut files = std::collections::BTreeMap::new();
            if let Some(dir) = context {
                context_files(dir, dir, &mut files)?;
            }
            Submission::Dockerfile { dockerfile: text, files }
        }
        ExerciseKind::Flag => Submission::Flag { value: text },
        ExerciseKind::Lab | ExerciseKind::LabContainers => anyhow::bail!(
            "{exercise_id} checks a learner's running lab; it can only be graded through the web application"
        ),
    };
    let report = grader
        .grade(exercise, &submission, None)
        .await
        .map_err(|e| anyhow::anyhow!(e.user_message()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{}: {} / {} points{}",
            exercise.def.title,
            report.score,
            report.max,
            if report.passed { " — passed" } else { "" }
        );
        for check in &report.checks {
            println!(
                "  {} {:<24} {}/{}  {}",
                if check.passed { "✓" } else { "✗" },
                check.id,
                check.points,
                check.max_points,
                check.message
            );
            if !check.passed {
                println!("      hint: {}", check.hint);
            }
            if !check.evidence.is_empty() {
                println!(
                    "      evidence: {}",
                    check.evidence.replace('\n', "\n                ")
                );
            }
        }
        for note in &report.notes {
            println!("  note: {note}");
        }
        println!("  graded in {} ms", report.duration_ms);
    }
    Ok(())
}

/// Every file under `dir` (except Dockerfiles), named relative to `root`.
fn context_files(
    root: &std::path::Path,
    dir: &std::path::Path,
    files: &mut std::collections::BTreeMap<String, String>,
) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            context_files(root, &path, files)?;
        } else if kind.is_file() {
            let name = path.strip_prefix(root)?.to_string_lossy().into_owned();
            if !name.starts_with("Dockerfile") {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    anyhow::anyhow!("{}: {e} (context files must be text)", path.display())
                })?;
                files.insert(name, text);
            }
        }
    }
    Ok(())
}

async fn regrade(config: Config, exercise_id: &str, all: bool) -> anyhow::Result<()> {
    let grader = grader(config).await?;
    let (done, skipped, failed) = grader
        .regrade(exercise_id, all)
        .await
        .map_err(|e| anyhow::anyhow!(e.user_message()))?;
    println!("{exercise_id}: {done} re-graded, {skipped} unchanged, {failed} failed");
    anyhow::ensure!(failed == 0, "{failed} submission(s) could not be re-graded");
    Ok(())
}

async fn health(addr: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(
                format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    };
    let reply = tokio::time::timeout(std::time::Duration::from_secs(3), probe).await??;
    if reply.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        anyhow::bail!(
            "unhealthy: {}",
            String::from_utf8_lossy(&reply).lines().next().unwrap_or("")
        )
    }
}
