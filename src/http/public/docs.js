// Swagger UI on the service's own document; admin routes take the token from "Authorize".
// A file of its own, not an inline <script>: the Content-Security-Policy refuses inline scripts.
/* global SwaggerUIBundle */
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  // No call to the public validator (validator.swagger.io): the document stays here.
  validatorUrl: null,
});
