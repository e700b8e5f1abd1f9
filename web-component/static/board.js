// The board service's pages: the newest posts, one post, and writing one.

import { call } from "./api.js";
import { h, time } from "./dom.js";
import { explainFailure, field, form } from "./forms.js";
import { sayNext, takeNotice } from "./notice.js";
import { session, signOut } from "./session.js";

const PAGE_SIZE = 10;
const EXCERPT = 280;

export function boardPage(view) {
  const list = h("ol", { class: "posts", "aria-label": "Posts, newest first" });
  const status = h("p", { role: "status" }, "Loading posts…");
  const older = h("button", { type: "button", hidden: true }, "Show older posts");
  view.append(h("h1", { tabindex: -1 }, "Newest posts"), takeNotice(), status, list, older);
  let cursor = null;
  const load = async () => {
    older.disabled = true;
    const query = new URLSearchParams({ limit: PAGE_SIZE });
    if (cursor !== null) query.set("cursor", cursor);
    const result = await call("GET", `/boards?${query}`);
    older.disabled = false;
    if (!result.ok) {
      status.textContent = explainFailure(result, "board service");
      return;
    }
    list.append(...result.data.boards.map(postItem));
    cursor = result.data.nextCursor;
    older.hidden = cursor === null;
    status.textContent = list.children.length === 0 ? "No posts yet. Be the first to write one." : "";
  };
  older.addEventListener("click", load);
  load();
}

function postItem(post) {
  const excerpt = post.content.length > EXCERPT ? `${post.content.slice(0, EXCERPT)}…` : post.content;
  return h(
    "li",
    {},
    h(
      "article",
      {},
      h("h2", {}, h("a", { href: `#/posts/${post.id}` }, post.title)),
      byline(post),
      h("p", { class: "excerpt" }, excerpt),
    ),
  );
}

function byline(post) {
  return h("p", { class: "meta" }, "by ", h("span", { class: "author" }, authorName(post)), " · ", time(post.createdAt));
}

/** Board's replica may not know an author's name yet while the user service is down. */
function authorName(post) {
  return post.author?.name ?? `user ${post.userId}`;
}

export async function postPage(view, id) {
  const status = h("p", { role: "status" }, "Loading the post…");
  view.append(status);
  const result = await call("GET", `/boards/${id}`);
  status.remove();
  if (!result.ok) {
    const message = result.status === 404 ? `There is no post ${id}.` : explainFailure(result, "board service");
    view.append(h("h1", { tabindex: -1 }, "Post not shown"), h("p", { class: "alert" }, message), backLink());
    return;
  }
  const post = result.data;
  view.append(
    h("article", {}, h("h1", { tabindex: -1 }, post.title), byline(post), h("p", { class: "content" }, post.content)),
    backLink(),
  );
}

function backLink() {
  return h("p", {}, h("a", { href: "#/" }, "Back to the newest posts"));
}

export function writePage(view) {
  view.append(h("h1", { tabindex: -1 }, "Write a post"));
  const signedIn = session();
  if (signedIn === null) {
    view.append(
      h("p", {}, "Sign in to write a post: ", h("a", { href: "#/sign-in" }, "sign in"), " or ",
        h("a", { href: "#/sign-up" }, "sign up"), "."),
    );
    return;
  }
  view.append(
    form({
      label: "Write a post",
      action: "Publish",
      fields: [
        field({ name: "title", label: "Title", hint: "One line, up to 200 characters." }),
        field({ name: "content", label: "Text", multiline: true, hint: "Up to 20,000 characters." }),
      ],
      submit: ({ title, content }) => {
        const now = session();
        if (now === null) return { ok: false, status: 401, problem: null, retryAfter: null };
        return call("POST", "/boards", { body: { userId: now.userId, title, content }, token: now.token });
      },
      done: () => {
        sayNext("Your post is published.");
        location.hash = "#/";
      },
      explain: (result) => {
        if (result.status === 401) {
          signOut();
          return "Your sign-in has ended. Sign in again, then publish your post.";
        }
        return explainFailure(result, "board service");
      },
    }),
  );
}
