Feature: W3C trace context, from the caller through the service to the Location API

  The in-process target installs no tracing, so scenarios that look at trace ids run against the
  binary (@binary).

  Background:
    Given the Location API serves the retail estate

  @observability-1 @binary
  Scenario: An inbound traceparent is joined: the Location API calls carry its trace id with a span of the service
    Given my requests carry the traceparent "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    When I send GET /locations/Store-001/products/SKU1
    Then the response status is 200
    And the Location API received exactly:
      | /locations/Store-001          |
      | /locations/Store-001/children |
    And every call to the Location API carried a traceparent in the trace "4bf92f3577b34da6a3ce929d0e0e4736"

  @observability-1 @binary
  Scenario: Every call of a write carries the request's trace, the path call included
    Given my requests carry the traceparent "00-f183a3c4b1a6c5b61746f0a1ae2e489c-a090e0e75d9282dd-01"
    When I send POST /locations/Untracked-1/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 303 with body {"status":"LocationNotTracked"}
    And the Location API received exactly /locations/Untracked-1, /locations/Untracked-1/path
    And every call to the Location API carried a traceparent in the trace "f183a3c4b1a6c5b61746f0a1ae2e489c"

  @observability-1 @binary
  Scenario: A move's calls for source and destination are in the request's trace
    Given my requests carry the traceparent "00-e0a21804f1c69c891ccd1c3774d6fccd-d5a484dec265cc5e-01"
    When I send POST /locations/Store-001/SKU1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"Central Store","quantity":0,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response status is 201
    And the Location API received exactly /locations/Store-001, /locations/Central%20Store
    And every call to the Location API carried a traceparent in the trace "e0a21804f1c69c891ccd1c3774d6fccd"

  @observability-1 @binary @api-10
  Scenario: A readiness probe is traced too: its health call carries the probe's trace
    Given my requests carry the traceparent "00-a6fd293ea374569af8c81d42c30c2546-b1390e79e47fc39d-01"
    When I send GET /health/ready
    Then the response status is 200
    And the Location API received exactly /health
    And every call to the Location API carried a traceparent in the trace "a6fd293ea374569af8c81d42c30c2546"

  @observability-1 @binary
  Scenario: Without an inbound traceparent every request starts a trace of its own
    When I send GET /locations/Store-001/products/SKU1
    Then every call to the Location API carried a traceparent of one new trace
    When the Location API calls so far are set aside
    And I send GET /locations/Store-001/products/SKU1
    Then every call to the Location API carried a traceparent of one new trace

  @observability-1 @binary
  Scenario Outline: An invalid inbound traceparent is not joined: a new trace starts (<case>)
    Given my requests carry the traceparent "<traceparent>"
    When I send GET /locations/Store-001/products/SKU1
    Then the response status is 200
    And every call to the Location API carried a traceparent of one new trace

    Examples:
      | case           | traceparent                                             |
      | zero trace id  | 00-00000000000000000000000000000000-00f067aa0ba902b7-01 |
      | zero span id   | 00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01 |
      | upper case hex | 00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01 |
      | garbage        | not-a-traceparent                                       |

  @observability-1
  Scenario Outline: Responses never carry trace context headers: GET <path>
    Given my requests carry the traceparent "00-31ffa321d37798f7d18ff1209f90b2ea-b659122649b2d476-01"
    And my requests carry the header "tracestate" with value "vendor=opaque"
    When I send GET <path>
    Then the response status is <status>
    And the response has no "traceparent" header
    And the response has no "tracestate" header

    Examples:
      | path                                | status |
      | /locations/Store-001/products/SKU1  | 200    |
      | /locations/Atlantis/products/SKU1   | 404    |
      | /health/live                        | 200    |
      | /health/ready                       | 200    |
      | /metrics                            | 200    |
      | /nowhere                            | 404    |

  @observability-1 @locations-8
  Scenario: A 502 carries no trace context headers either
    Given my requests carry the traceparent "00-31ffa321d37798f7d18ff1209f90b2ea-b659122649b2d476-01"
    And the Location API is down
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 502 with body {"status":"UpstreamServiceUnavailable"}
    And the response has no "traceparent" header
    And the response has no "tracestate" header

  @observability-1 @binary
  Scenario: Spans are exported over OTLP with the service name stock-api, in the request's trace
    Given the service exports its spans over OTLP to the fake Location API
    And my requests carry the traceparent "00-54e44d669487828f75d35c3d8c523020-b5791c3247ddb53a-01"
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response status is 201
    And spans of the trace "54e44d669487828f75d35c3d8c523020" are exported for the service "stock-api"

  @observability-1 @binary
  Scenario: OTEL_SERVICE_NAME names the service in exported spans
    Given the service exports its spans over OTLP to the fake Location API
    And the service setting OTEL_SERVICE_NAME is "stock-api-eu-west"
    And my requests carry the traceparent "00-54e44d669487828f75d35c3d8c523020-b5791c3247ddb53a-01"
    When I send GET /health/live
    Then the response status is 200
    And spans of the trace "54e44d669487828f75d35c3d8c523020" are exported for the service "stock-api-eu-west"
