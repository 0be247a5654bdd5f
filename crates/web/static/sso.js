// Smart Core Connect: sends a sign-in request on to the identity provider (HTTP-POST binding)
// without a click. Without JavaScript the page's Continue button does the same.
(function () {
  'use strict';
  var form = document.querySelector('form[data-auto-submit]');
  if (form) form.submit();
})();

// Copy buttons beside the values an identity provider needs.
(function () {
  'use strict';
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    button.addEventListener('click', function () {
      var field = document.getElementById(button.getAttribute('data-copy'));
      if (!field) return;
      field.select();
      var done = function () { button.textContent = 'Copied'; };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(field.value).then(done, function () {});
      } else if (document.execCommand && document.execCommand('copy')) {
        done();
      }
    });
  });
})();
