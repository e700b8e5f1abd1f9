// The user service's pages: signing up and signing in.

import { call } from "./api.js";
import { h } from "./dom.js";
import { explainFailure, field, form } from "./forms.js";
import { sayNext, takeNotice } from "./notice.js";
import { signIn } from "./session.js";

let lastEmail = "";

export function signUpPage(view) {
  view.append(
    h("h1", { tabindex: -1 }, "Sign up"),
    form({
      label: "Sign up",
      action: "Create the account",
      fields: [
        field({ name: "email", label: "Email", type: "email", autocomplete: "email" }),
        field({ name: "name", label: "Name", autocomplete: "nickname", hint: "Shown beside your posts; 1 to 50 characters." }),
        field({ name: "password", label: "Password", type: "password", autocomplete: "new-password", hint: "8 to 128 characters." }),
      ],
      submit: (values) => call("POST", "/users", { body: values }),
      done: (result) => {
        lastEmail = result.data.email;
        sayNext(`Welcome, ${result.data.name}: your account is ready. Sign in to write posts.`);
        location.hash = "#/sign-in";
      },
      explain: (result) => explainFailure(result, "user service"),
    }),
  );
}

export function signInPage(view) {
  view.append(
    h("h1", { tabindex: -1 }, "Sign in"),
    takeNotice(),
    form({
      label: "Sign in",
      action: "Sign in",
      fields: [
        field({ name: "email", label: "Email", type: "email", autocomplete: "username", value: lastEmail }),
        field({ name: "password", label: "Password", type: "password", autocomplete: "current-password" }),
      ],
      submit: (values) => call("POST", "/users/tokens", { body: values }),
      done: (result) => {
        signIn(result.data.accessToken, result.data.expiresIn);
        sayNext("You are signed in until you close or reload this tab.");
        location.hash = "#/";
      },
      explain: (result) => explainFailure(result, "user service"),
    }),
    h("p", {}, "No account yet? ", h("a", { href: "#/sign-up" }, "Sign up"), "."),
  );
}
