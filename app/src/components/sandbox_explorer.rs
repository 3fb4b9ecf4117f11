use leptos::prelude::*;

/// One default of Drydock's lab sandbox and what it changes for the process.
struct SandboxDefault {
    flag: &'static str,
    effect: &'static str,
}

const DEFAULTS: &[SandboxDefault] = &[
    SandboxDefault {
        flag: "--user 1000:1000",
        effect: "The shell runs as an ordinary user. Root inside a container is root on the host kernel unless user namespaces remap it, so labs start without it.",
    },
    SandboxDefault {
        flag: "--cap-drop ALL",
        effect: "The bounding set of capabilities is empty: even a process that becomes UID 0 cannot load modules, change the clock, bypass file permissions or use raw sockets. Check it with `grep CapBnd /proc/1/status`.",
    },
    SandboxDefault {
        flag: "--security-opt no-new-privileges",
        effect: "The kernel's no_new_privs bit is set, so executing a setuid binary such as `su` or `passwd` cannot raise privileges. It shows up as `NoNewPrivs: 1` in /proc/1/status.",
    },
    SandboxDefault {
        flag: "--read-only --tmpfs /tmp:size=16m",
        effect: "The image's root filesystem is mounted read-only; the only writable places are small in-memory tmpfs mounts with noexec and nosuid, capped in size.",
    },
    SandboxDefault {
        flag: "--pids-limit 128 --memory 128m --cpus 0.5",
        effect: "cgroup limits: a fork bomb stops at the process limit, a memory hog is killed inside its own cgroup, and a busy loop gets half a core at most.",
    },
    SandboxDefault {
        flag: "--network none",
        effect: "The container gets only a loopback interface: no route out, nothing to reach on the host or on other learners' containers.",
    },
    SandboxDefault {
        flag: "--runtime runsc",
        effect: "Where the engine offers gVisor, the lab's system calls are served by a user-space kernel instead of going straight to the host kernel.",
    },
];

/// Click a flag to see what it changes — the first interactive element, and
/// the one the browser test uses to prove hydration works.
#[island]
pub fn SandboxExplorer() -> impl IntoView {
    let (selected, set_selected) = signal(0usize);
    let hydrated = crate::session::hydrated();

    view! {
        <section
            class="explorer"
            aria-labelledby="explorer-title"
            data-hydrated=move || if hydrated.get() { "true" } else { "false" }
        >
            <h2 id="explorer-title">"How every lab is confined"</h2>
            <p>"Each learner's container starts with these settings. Pick one to see what it changes in the kernel's view of the process."</p>
            <div class="explorer-body">
                <ul class="flag-list" role="list">
                    {DEFAULTS
                        .iter()
                        .enumerate()
                        .map(|(index, default)| {
                            view! {
                                <li>
                                    <button
                                        type="button"
                                        class="flag"
                                        data-index=index
                                        aria-pressed=move || (selected.get() == index).to_string()
                                        on:click=move |_| set_selected.set(index)
                                    >
                                        <code>{default.flag}</code>
                                    </button>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
                <div class="flag-effect" aria-live="polite">
                    <p class="flag-name">
                        <code>{move || DEFAULTS[selected.get()].flag}</code>
                    </p>
                    <p class="flag-text">{move || DEFAULTS[selected.get()].effect}</p>
                </div>
            </div>
        </section>
    }
}
