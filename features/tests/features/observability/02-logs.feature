@binary
Feature: Log lines: one JSON object each, with the trace ids of the request they were logged for

  The binary target's stdout is captured in the scenario's log file; the in-process target's is not.

  Background:
    Given the Location API serves the retail estate

  @observability-2
  Scenario: Every line is a JSON object with timestamp, level, target and message, and well-formed trace ids
    Given the service setting RUST_LOG is "debug"
    And my requests carry the traceparent "00-54e44d669487828f75d35c3d8c523020-b5791c3247ddb53a-01"
    When I send GET /locations/Store-001/products/SKU1
    And I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    And I send GET /health/ready
    Then the log has a DEBUG line from "stock_pot" in the trace "54e44d669487828f75d35c3d8c523020"
    And the log has an INFO line from "http_fn" in the trace "54e44d669487828f75d35c3d8c523020"
    And every log line is a JSON object with a timestamp, a level, a target and a message

  @observability-2
  Scenario: Start-up lines are logged outside any request and carry no trace ids
    Given my requests carry the traceparent "00-54e44d669487828f75d35c3d8c523020-b5791c3247ddb53a-01"
    When I send GET /health/live
    Then the log has an INFO line from "shared::http" in the trace "54e44d669487828f75d35c3d8c523020"
    And the start-up lines carry no trace ids

  @observability-2
  Scenario: Lines of the HTTP tier logged while serving a request carry its trace id
    Given the service setting RUST_LOG is "debug"
    And my requests carry the traceparent "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    When I send GET /locations/Store-001/products/SKU1
    Then the response status is 200
    And the log has a DEBUG line from "http_fn::locations" in the trace "4bf92f3577b34da6a3ce929d0e0e4736"
    And every log line from "http_fn::locations" carries a trace id and a span id

  @observability-2 @observability-1
  Scenario: The stock pot logs a DEBUG line for a sale in the request's trace
    Given the service setting RUST_LOG is "debug"
    And my requests carry the traceparent "00-f183a3c4b1a6c5b61746f0a1ae2e489c-a090e0e75d9282dd-01"
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response status is 201
    And the log has a DEBUG line from "stock_pot" in the trace "f183a3c4b1a6c5b61746f0a1ae2e489c" for command RecordSale at "Store-001"

  @observability-2 @observability-1
  Scenario: Both sides of a cross-shard move log in the request's trace
    Given the service setting RUST_LOG is "debug"
    And "Store-001" and "store3" are on different shards
    And "Store-001" received a delivery of 10 "SKU1" at "2024-12-07T08:00:00"
    And my requests carry the traceparent "00-e0a21804f1c69c891ccd1c3774d6fccd-d5a484dec265cc5e-01"
    When I send POST /locations/Store-001/SKU1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"store3","quantity":4,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response status is 201
    And the log has a DEBUG line from "stock_pot" in the trace "e0a21804f1c69c891ccd1c3774d6fccd" for command MoveStock at "Store-001"
    And the log has a DEBUG line from "stock_pot" in the trace "e0a21804f1c69c891ccd1c3774d6fccd" for command CreditMove at "store3"

  @observability-2 @observability-1
  Scenario: Each delivery is handled in its own request's trace
    Given the service setting RUST_LOG is "debug"
    And my requests carry the traceparent "00-a6fd293ea374569af8c81d42c30c2546-b1390e79e47fc39d-01"
    When I send POST /locations/Store-001/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[{"productId":"SKU1","quantity":3}]}
      """
    Then the response status is 201
    Given my requests carry the traceparent "00-31ffa321d37798f7d18ff1209f90b2ea-b659122649b2d476-01"
    When I send POST /locations/Central%20Store/deliveries with:
      """
      {"requestId":"d2","supplierId":"s1","supplierRef":"po-2","deliveredAt":"2024-12-07T08:00:00","products":[{"productId":"SKU1","quantity":3},{"productId":"SKU2","quantity":5}]}
      """
    Then the response status is 201
    And the log has a DEBUG line from "stock_pot" in the trace "a6fd293ea374569af8c81d42c30c2546" for command RecordDelivery at "Store-001"
    And the log has a DEBUG line from "stock_pot" in the trace "31ffa321d37798f7d18ff1209f90b2ea" for command RecordDelivery at "Central Store"

  @observability-2 @api-10
  Scenario Outline: Each health probe logs one INFO line inside its own trace: <probe>
    Given my requests carry the traceparent "00-54e44d669487828f75d35c3d8c523020-b5791c3247ddb53a-01"
    When I send GET <probe>
    Then the response status is 200
    And the log has an INFO line from "<target>" in the trace "54e44d669487828f75d35c3d8c523020"
    And the log has exactly one INFO line in the trace "54e44d669487828f75d35c3d8c523020"

    Examples:
      | probe           | target       |
      | /health/live    | shared::http |
      | /health/started | shared::http |
      | /health/ready   | http_fn      |

  @observability-2
  Scenario: STOCK_LOG_FORMAT=text writes readable lines with the same information
    Given the service setting STOCK_LOG_FORMAT is "text"
    And my requests carry the traceparent "00-54e44d669487828f75d35c3d8c523020-b5791c3247ddb53a-01"
    When I send GET /health/live
    Then the response status is 200
    And the log has a text line with "INFO" and "trace_id=54e44d669487828f75d35c3d8c523020"

  @observability-2 @auth-2
  Scenario: A bearer token is never logged
    Given the service setting RUST_LOG is "debug"
    And my requests carry the traceparent "00-54e44d669487828f75d35c3d8c523020-b5791c3247ddb53a-01"
    And I send the Authorization header "Bearer not-a-jwt.but-a-secret.4711"
    When I send GET /locations/Store-001/products/SKU1
    Then the response status is 401
    And the log has a DEBUG line from "http_fn" in the trace "54e44d669487828f75d35c3d8c523020"
    And the log never mentions "not-a-jwt.but-a-secret.4711"
