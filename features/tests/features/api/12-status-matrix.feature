Feature: Status matrix: every producible outcome with its status and body

  Background:
    Given the retail estate
    And "WH01" received a delivery of 10 "p1" at "2024-12-07T08:00:00"

  @api-12
  Scenario Outline: <situation>
    Given <caller>
    When I send POST <path> with:
      """
      <body>
      """
    Then the response is <status> with body <answer>

    Examples:
      | situation                              | caller                                                  | path                                     | body                                                                                                                       | status | answer                                                |
      | no Authorization header                | I send no Authorization header                          | /locations/Store-001/products/SKU1/sales | {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}                                                             | 401    | {"status":"Unauthorized"}                             |
      | not a Bearer token                     | I send the Authorization header "Basic dXNlcjpwYXNz"    | /locations/Store-001/products/SKU1/sales | {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}                                                             | 401    | {"status":"Unauthorized"}                             |
      | expired token                          | my token expired 1 hour ago                             | /locations/Store-001/products/SKU1/sales | {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}                                                             | 401    | {"status":"Unauthorized"}                             |
      | job lacks the permission               | I am a Regional Stock Auditor                           | /locations/Store-001/products/SKU1/sales | {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}                                                             | 403    | {"status":"PermissionDenied"}                         |
      | location outside the token's scope     | I am a Warehouse Manager responsible for "WH02"         | /locations/WH01/products/p1/counts       | {"requestId":"c1","reason":"AdminOverride","quantity":1,"countedAt":"2024-12-07T12:00:00"}                                 | 403    | {"status":"PermissionDenied"}                         |
      | missing required fields                | I am a Warehouse Manager                                | /locations/WH01/products/p1/counts       | {"requestId":"c1"}                                                                                                         | 400    | {"missingFields":["reason","quantity","countedAt"]}   |
      | unparseable date-time                  | I am a Warehouse Manager                                | /locations/WH01/products/p1/counts       | {"requestId":"c1","reason":"AdminOverride","quantity":1,"countedAt":"12/07/2024"}                                          | 400    | {"invalidValues":["countedAt"]}                       |
      | other body problem                     | I am a Warehouse Manager                                | /locations/WH01/products/p1/counts       | {"requestId":"c1","reason":"AdminOverride","quantity":1,"countedAt":"2024-12-07T12:00:00","note":null}                     | 400    | {"status":"BadRequest"}                               |
      | move with source = destination         | I am a Warehouse Manager                                | /locations/WH01/p1/movements             | {"requestId":"m1","destinationLocationId":"WH01","quantity":1,"reason":"replenishment","movedAt":"2024-12-07T12:00:00"}    | 400    | {"status":"BadRequest"}                               |
      | location unknown                       | I am a Warehouse Manager                                | /locations/WH99/products/p1/sales        | {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}                                                             | 404    | {"status":"LocationNotFound"}                         |
      | untracked with a tracked ancestor      | I am a Warehouse Manager                                | /locations/Till%202/products/p1/sales    | {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}                                                             | 303    | {"status":"LocationNotTracked"}                       |
      | untracked without a tracked ancestor   | I am a Warehouse Manager                                | /locations/Online/products/p1/sales      | {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}                                                             | 400    | {"status":"LocationNotTracked"}                       |
      | untracked move destination             | I am a Warehouse Manager                                | /locations/WH01/p1/movements             | {"requestId":"m1","destinationLocationId":"Till 2","quantity":1,"reason":"replenishment","movedAt":"2024-12-07T12:00:00"}  | 400    | {"status":"LocationNotTracked"}                       |
      | delivery line quantity not positive    | I am a Warehouse Manager                                | /locations/WH01/deliveries               | {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[{"productId":"p1","quantity":-2}]} | 400    | {"status":"BadRequest"}                               |
      | move beyond the source's quantity      | I am a Warehouse Manager                                | /locations/WH01/p1/movements             | {"requestId":"m1","destinationLocationId":"WH02","quantity":10.5,"reason":"replenishment","movedAt":"2024-12-07T12:00:00"} | 400    | {"status":"InsufficientStock"}                        |

  @api-12
  Scenario: Non-JSON content type
    When I send POST /locations/WH01/products/p1/counts with content type "text/csv":
      """
      c1,AdminOverride,1,2024-12-07T12:00:00
      """
    Then the response is 415 with an empty body

  @api-12 @domain-8
  Scenario: Request id reused at the same location with different content
    When I send POST /locations/WH01/products/p1/counts with:
      """
      {"requestId":"c1","reason":"AdminOverride","quantity":1,"countedAt":"2024-12-07T12:00:00"}
      """
    Then the response status is 201
    When I send POST /locations/WH01/products/p1/counts with:
      """
      {"requestId":"c1","reason":"AdminOverride","quantity":2,"countedAt":"2024-12-07T12:00:00"}
      """
    Then the response is 409 with body {"status":"IdempotencyContentMismatch"}

  @api-12 @domain-8
  Scenario: Request id replayed with identical content
    When I send POST /locations/WH01/products/p1/counts with:
      """
      {"requestId":"c1","reason":"AdminOverride","quantity":1,"countedAt":"2024-12-07T12:00:00"}
      """
    And I send the same request again
    Then the response is 201, byte for byte the first answer
    And the stock of "p1" at "WH01" is 1.0, last updated "2024-12-07T12:00:00"
