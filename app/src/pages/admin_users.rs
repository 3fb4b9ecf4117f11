use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::{error_text, list_accounts, Account, SetRole},
    components::form_error::{failure, FormError},
};

const ROLES: [&str; 3] = ["learner", "instructor", "admin"];

/// Admins see every registered account and can change its role.
#[component]
pub fn AdminUsersPage() -> impl IntoView {
    let set_role = ServerAction::<SetRole>::new();
    let accounts = Resource::new(move || set_role.version().get(), |_| list_accounts());
    view! {
        <Title text="Users · Drydock"/>
        <section class="card wide">
            <h1>"Users"</h1>
            <FormError error=move || failure(set_role.value().get())/>
            <Transition fallback=|| view! { <p class="loading">"Loading users…"</p> }>
                {move || accounts.get().map(|result| match result {
                    Ok(list) if list.is_empty() => view! { <p class="empty-state">"No registered users yet."</p> }.into_any(),
                    Ok(list) => view! { <UserTable list set_role/> }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

#[component]
fn UserTable(list: Vec<Account>, set_role: ServerAction<SetRole>) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="users">
                <thead><tr><th scope="col">"User"</th><th scope="col">"Role"</th></tr></thead>
                <tbody>
                    {list.into_iter().map(|account| {
                        let current = account.role.clone();
                        let label = format!("Role of {}", account.username);
                        view! {
                            <tr data-user=account.username.clone()>
                                <td>{account.username.clone()}</td>
                                <td>
                                    <ActionForm action=set_role attr:class="inline-form">
                                        <input type="hidden" name="user_id" value=account.id.to_string()/>
                                        <label class="visually-hidden" for=format!("role-{}", account.id)>
                                            {label}
                                        </label>
                                        <select name="role" id=format!("role-{}", account.id)>
                                            {ROLES.iter().map(|r| view! {
                                                <option value=*r selected=current == *r>{*r}</option>
                                            }).collect_view()}
                                        </select>
                                        <button type="submit">"Save"</button>
                                    </ActionForm>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
