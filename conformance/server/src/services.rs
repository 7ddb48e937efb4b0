//! The server's services behind one: each call goes to the service its
//! path names (`/package.Service/Method`), and a path that names none of
//! them is answered `UNIMPLEMENTED`, as a generated server answers a method
//! it does not have ([`crate::guard::TypeUnimplemented`] types both).
//!
//! tonic's own router does this through axum, a web framework whose build
//! costs more than the rest of what the server adds to tonic; four services
//! known by name need no more than a comparison of the path's first
//! segment.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::NamedService;

type Request = http::Request<Body>;
type Response = http::Response<Body>;

/// A service that can be called through a shared reference: each call
/// works on a clone, as tonic's generated servers are meant to be used.
trait Route: Send + Sync {
    fn dispatch(&self, request: Request) -> BoxFuture<Response, Infallible>;
}

impl<S> Route for S
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    fn dispatch(&self, request: Request) -> BoxFuture<Response, Infallible> {
        let mut service = self.clone();
        Box::pin(async move {
            std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
            service.call(request).await
        })
    }
}

/// The services of one server, by name.
#[derive(Clone, Default)]
pub(crate) struct Services {
    routes: Vec<(&'static str, Arc<dyn Route>)>,
}

impl Services {
    /// Adds `service`, which answers every path under its name.
    pub(crate) fn add<S>(mut self, service: S) -> Self
    where
        S: NamedService + Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
    {
        self.routes.push((S::NAME, Arc::new(service)));
        self
    }

    /// The service `path` names.
    fn route(&self, path: &str) -> Option<&dyn Route> {
        let (name, _) = path.strip_prefix('/')?.split_once('/')?;
        self.routes.iter().find(|(served, _)| *served == name).map(|(_, route)| route.as_ref())
    }
}

impl Service<Request> for Services {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<Response, Infallible>;

    /// Always ready: each call is made on a clone of its service, which
    /// is awaited ready first.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.route(request.uri().path()) {
            Some(route) => route.dispatch(request),
            None => {
                let (parts, ()) = tonic::Status::unimplemented("").into_http::<()>().into_parts();
                Box::pin(std::future::ready(Ok(http::Response::from_parts(parts, Body::empty()))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Named(&'static str);

    impl NamedService for Named {
        const NAME: &'static str = "pkg.Named";
    }

    impl Service<Request> for Named {
        type Response = Response;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response, Infallible>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _request: Request) -> Self::Future {
            let mut response = Response::new(Body::empty());
            response.headers_mut().insert("x-served-by", http::HeaderValue::from_static(self.0));
            std::future::ready(Ok(response))
        }
    }

    async fn answer(services: &mut Services, path: &str) -> Response {
        let request = http::Request::builder().uri(path).body(Body::empty()).expect("a request");
        let Ok(response) = services.call(request).await;
        response
    }

    #[tokio::test]
    async fn a_call_goes_to_the_service_its_path_names_and_an_unknown_one_is_unimplemented() {
        let mut services = Services::default().add(Named("named"));
        let served = answer(&mut services, "/pkg.Named/Method").await;
        assert_eq!(served.headers().get("x-served-by").map(|v| v.as_bytes()), Some(&b"named"[..]));
        for path in ["/pkg.Other/Method", "/pkg.Named", "/pkg.NamedMore/Method", "/"] {
            let response = answer(&mut services, path).await;
            assert!(response.headers().get("x-served-by").is_none(), "{path} reached the service");
            assert_eq!(response.headers().get("grpc-status").map(|v| v.as_bytes()), Some(&b"12"[..]), "{path}");
        }
    }
}
