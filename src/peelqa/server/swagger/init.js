// Starts Swagger UI on /docs over the app's own OpenAPI schema. A file of its own, not an
// inline script, so that the page's Content-Security-Policy admits scripts from this server
// only. validatorUrl: null keeps the page from calling validator.swagger.io: /docs works
// offline, and nothing about the API leaves the server.
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: document.body.dataset.openapi,
    dom_id: "#swagger-ui",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    layout: "BaseLayout",
  });
});
