// Smart Core Connect: sends a sign-in request on to the identity provider (HTTP-POST binding)
// without a click. Without JavaScript the page's Continue button does the same.
(function () {
  'use strict';
  var form = document.querySelector('form[data-auto-submit]');
  if (form) form.submit();
})();
