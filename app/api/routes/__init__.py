"""HTTP routers: auth, projects, videos."""
