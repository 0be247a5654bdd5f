// Smart Core Connect: progressive enhancement. Every form works without this file.
// Text from the server is only ever set with textContent, never parsed as HTML.

// On every page: the outcome of a form (a notice or an error marked data-focus-on-load) takes
// the focus, so it is in view and read out; copy buttons copy the field they name.
(function () {
  'use strict';
  var outcome = document.querySelector('[data-focus-on-load]');
  if (outcome) {
    if (!outcome.hasAttribute('tabindex')) outcome.setAttribute('tabindex', '-1');
    outcome.focus();
  }
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    button.hidden = false;
    button.addEventListener('click', function () {
      var field = document.getElementById(button.getAttribute('data-copy'));
      if (!field) return;
      var value = field.value !== undefined ? field.value : field.textContent;
      if (field.select) field.select();
      var label = button.textContent;
      var done = function () {
        button.textContent = 'Copied';
        setTimeout(function () { button.textContent = label; }, 2000);
      };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(value).then(done, function () {});
      } else if (document.execCommand && document.execCommand('copy')) {
        done();
      }
    });
  });
})();

// The Authentication page: with this file, "Add contact" and the delete icon open modal dialogs without a
// reload, the member picker searches as you type, and Pending badges turn Synced by themselves.
// Text from the server is only ever set with textContent, never parsed as HTML.
(function () {
  'use strict';

  var section = document.getElementById('contacts-section');
  if (!section || typeof HTMLDialogElement !== 'function') return;
  var base = section.getAttribute('data-base');
  var org = section.getAttribute('data-org');
  var addDialog = document.getElementById('add-contact');
  var removeDialog = document.getElementById('remove-contact');
  var addButton = document.getElementById('add-contact-button');

  // Focus goes back to whatever opened a dialog when it closes (Escape, Close, Cancel).
  function openModal(dialog, opener, focusId) {
    dialog.returnTo = opener || null;
    if (dialog.open) dialog.close();
    dialog.showModal();
    var target = focusId && document.getElementById(focusId);
    if (target) target.focus();
  }
  [addDialog, removeDialog].forEach(function (d) {
    if (!d) return;
    d.addEventListener('close', function () {
      var to = d.returnTo;
      d.returnTo = null;
      if (to && document.body.contains(to) && !to.disabled) to.focus();
    });
    d.querySelectorAll('[data-close]').forEach(function (el) {
      el.addEventListener('click', function (ev) {
        ev.preventDefault();
        d.close();
      });
    });
  });

  // "Choose how to add them": Organisation member or Enter manually, one form at a time
  // (without this file both show, one under the other).
  var choose = document.getElementById('choose-way');
  var currentWay = function () { return 'member'; };
  if (choose && addDialog) {
    var ways = addDialog.querySelectorAll('section.way');
    var showWay = function (way) {
      ways.forEach(function (w) { w.hidden = w.getAttribute('data-way') !== way; });
    };
    currentWay = function () {
      var checked = choose.querySelector('input:checked');
      return checked ? checked.value : 'member';
    };
    choose.hidden = false;
    var chooseText = document.getElementById('choose-way-text');
    if (chooseText) chooseText.hidden = true;
    choose.querySelectorAll('input[type=radio]').forEach(function (r) {
      r.addEventListener('change', function () { if (r.checked) showWay(r.value); });
    });
    showWay(currentWay());
  }

  // "Add contact".
  if (addDialog) {
    var openForm = document.querySelector('form.open-add');
    if (openForm) {
      openForm.addEventListener('submit', function (ev) {
        ev.preventDefault();
        openModal(addDialog, addButton, currentWay() === 'manual' ? 'email' : 'member-q');
      });
    }
    // Opened by the server (a search without JavaScript, or an error): make it modal.
    if (addDialog.hasAttribute('data-server-open')) {
      openModal(addDialog, addButton, addDialog.getAttribute('data-focus'));
    }
  }

  // The member picker: results as you type, from the JSON API with this session.
  var q = document.getElementById('member-q');
  var results = document.getElementById('member-results');
  var status = document.getElementById('member-status');
  var searchForm = document.getElementById('member-search-form');
  var timer = null;
  var seq = 0;

  function renderResults(members, query, total, more) {
    while (results.firstChild) results.removeChild(results.firstChild);
    members.forEach(function (m) {
      var li = document.createElement('li');
      var who = document.createElement('span');
      who.className = 'who';
      var name = document.createElement('span');
      name.className = 'name';
      name.textContent = m.name;
      var email = document.createElement('span');
      email.className = 'email';
      email.textContent = m.email;
      who.appendChild(name);
      who.appendChild(document.createTextNode(' '));
      who.appendChild(email);
      li.appendChild(who);
      if (m.is_it_contact) {
        var tag = document.createElement('span');
        tag.className = 'tag';
        tag.textContent = 'Already an IT contact';
        li.appendChild(tag);
      } else {
        var form = document.createElement('form');
        form.method = 'post';
        form.action = base + '/it-contacts';
        [['way', 'member'], ['member_id', m.id], ['q', query]].forEach(function (kv) {
          var input = document.createElement('input');
          input.type = 'hidden';
          input.name = kv[0];
          input.value = kv[1];
          form.appendChild(input);
        });
        var button = document.createElement('button');
        button.type = 'submit';
        button.textContent = 'Add';
        button.setAttribute('aria-label', 'Add ' + m.name);
        form.appendChild(button);
        li.appendChild(form);
      }
      results.appendChild(li);
    });
    if (!query) status.textContent = 'Type a name or email address to find a member.';
    else if (members.length === 0) status.textContent = 'No members match \u201c' + query + '\u201d.';
    // The search counts its matches up to 1,000 and says when there are more.
    else if (more || members.length < total) {
      status.textContent = 'Showing ' + members.length + ' of ' + (more ? 'more than ' : '') +
        total.toLocaleString('en-GB') + ': type more to narrow.';
    }
    else status.textContent = members.length + (members.length === 1 ? ' member' : ' members') + ' found.';
  }

  function search() {
    var query = q.value.trim();
    var mine = ++seq;
    if (!query) {
      renderResults([], '', 0, false);
      return;
    }
    fetch('/api/v1/orgs/' + encodeURIComponent(org) + '/members?limit=20&q=' + encodeURIComponent(query), {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' }
    }).then(function (r) {
      if (!r.ok) throw new Error('search failed');
      return r.json();
    }).then(function (body) {
      if (mine === seq) renderResults(body.members || [], query, body.total || 0, !!body.more);
    }).catch(function () {
      if (mine === seq) status.textContent = 'The search did not work. Press Search to try again.';
    });
  }

  if (q && results && status && searchForm) {
    q.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(search, 150);
    });
    searchForm.addEventListener('submit', function (ev) {
      ev.preventDefault();
      clearTimeout(timer);
      search();
    });
  }

  // The delete icon: a confirmation dialog instead of the confirmation page.
  document.querySelectorAll('form.remove-form').forEach(function (form) {
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      removeDialog.querySelector('[data-slot="name"]').textContent = form.getAttribute('data-name');
      removeDialog.querySelector('[data-slot="email"]').textContent = form.getAttribute('data-email');
      removeDialog.querySelector('form').action = form.action;
      openModal(removeDialog, form.querySelector('button'), 'remove-cancel');
    });
  });

  // Pending contacts turn Synced (or Sync failed) without a reload.
  var polls = 0;
  function pending() {
    return document.querySelectorAll('#contact-list .badge[data-status="pending"]').length > 0;
  }
  var labels = { pending: 'Pending', synced: 'Synced', failed: 'Sync failed' };
  function refresh() {
    fetch('/api/v1/orgs/' + encodeURIComponent(org) + '/it-contacts', {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' }
    }).then(function (r) {
      if (!r.ok) throw new Error('refresh failed');
      return r.json();
    }).then(function (body) {
      (body.contacts || []).forEach(function (c) {
        var li = document.querySelector('#contact-list li[data-contact-id="' + CSS.escape(c.id) + '"]');
        if (!li || !labels[c.status]) return;
        var badge = li.querySelector('.badge');
        if (badge.getAttribute('data-status') === c.status) return;
        badge.setAttribute('data-status', c.status);
        badge.className = 'badge badge-' + c.status;
        badge.textContent = labels[c.status];
        if (c.status === 'failed' && c.status_detail) {
          var reason = document.createElement('span');
          reason.className = 'reason';
          reason.textContent = c.status_detail;
          badge.parentNode.appendChild(reason);
        }
      });
    }).catch(function () { /* the next poll tries again */ }).then(schedule);
  }
  function schedule() {
    if (pending() && polls++ < 150) setTimeout(refresh, 2000);
  }
  if (pending()) setTimeout(refresh, 1000);
})();
