// Boot: ask for the token when there is none (or it is refused), then load the dashboard and go live.
import { AuthError, stream, token } from "./api.js";
import { loadDevices, loadJobs, onJob, onStatus, showError } from "./dash.js";
import { loadClasses, setupStudio } from "./studio.js";

const $ = (sel) => document.querySelector(sel);
let stop = null;

function login(message = "") {
  if (stop) { stop(); stop = null; }
  $("#main").hidden = true;
  $("#logout").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message;
  setLink(false);
}

function setLink(on) {
  $("#link").textContent = on ? "live" : "offline";
  $("#link").className = `badge ${on ? "on" : "off"}`;
}

async function start() {
  try {
    await loadDevices();
    await loadJobs();
  } catch (e) {
    if (e instanceof AuthError) return login("That token was refused.");
    showError(e);
  }
  $("#login").hidden = true;
  $("#main").hidden = false;
  $("#logout").hidden = false;
  loadClasses().catch(showError);
  stop = stream(
    (ev) => {
      if (ev.t === "status") onStatus(ev);
      else if (ev.t === "job") onJob(ev.job);
    },
    (on, err) => {
      setLink(on);
      if (err) login("That token was refused.");
      else if (on) loadJobs().catch(showError); // catch up on what changed while the stream was down
    },
  );
}

$("#login-form").onsubmit = (e) => {
  e.preventDefault();
  token.set($("#token").value.trim());
  $("#token").value = "";
  start();
};
$("#logout").onclick = () => { token.clear(); login(); };
setupStudio();
if (token.get()) start(); else login();
