Feature: Processing order of a protected request
  Authentication and authorization, then the body, then the Location API checks, then delivery
  quantities, then the stock pots: the first failing stage answers and nothing is written before
  the last one.

  Background:
    Given the retail estate

  @api-2 @auth-1
  Scenario: An invalid body sent with an insufficient token is refused, not validated
    Given I am a Regional Stock Auditor
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {not json
      """
    Then the response is 403 with body {"status":"PermissionDenied"}

  @api-2 @auth-1
  Scenario: An invalid body sent without a token is unauthorized
    Given I send no Authorization header
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"bogus": true}
      """
    Then the response is 401 with body {"status":"Unauthorized"}

  @api-2
  Scenario: Authorization comes before the content type
    Given I am a Regional Stock Auditor
    When I send POST /locations/Store-001/products/SKU1/sales with content type "text/plain":
      """
      hello
      """
    Then the response is 403 with body {"status":"PermissionDenied"}

  @api-2 @auth-1
  Scenario: Authorization comes before any Location API check
    Given I am a Store Stock Controller responsible for "Cambridge"
    When I send GET /locations/Atlantis/products/p1
    Then the response is 403 with body {"status":"PermissionDenied"}

  @api-2
  Scenario: The content type is checked before the location
    When I send POST /locations/Atlantis/products/SKU1/sales with content type "text/plain":
      """
      {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 415 with an empty body

  @api-2
  Scenario: The body is checked before the location
    When I send POST /locations/Atlantis/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":"lots","soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 400 with body {"status":"BadRequest"}

  @api-2
  Scenario: Missing fields are reported before the location is looked up
    When I send POST /locations/Atlantis/deliveries with:
      """
      {"requestId":"d1"}
      """
    Then the response is 400 with body {"missingFields":["supplierId","supplierRef","deliveredAt","products"]}

  @api-2 @api-7
  Scenario: A move to the same location is refused before the location is looked up
    When I send POST /locations/Atlantis/p1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"Atlantis","quantity":1,"reason":"replenishment","movedAt":"2024-12-07T12:00:00"}
      """
    Then the response is 400 with body {"status":"BadRequest"}

  @api-2 @api-6
  Scenario: An unknown location is reported before delivery quantities
    When I send POST /locations/Atlantis/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[{"productId":"p1","quantity":0}]}
      """
    Then the response is 404 with body {"status":"LocationNotFound"}

  @api-2 @api-6 @api-9
  Scenario: An untracked location is redirected before delivery quantities are checked
    When I send POST /locations/warehouse1-untracked/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[{"productId":"p1","quantity":-3}]}
      """
    Then the response is 303 with body {"status":"LocationNotTracked"}
    And the response has the header "Location" with value "/locations/WH01/deliveries"

  @api-2 @api-9
  Scenario: An invalid body at an untracked location is a bad request, not a redirect
    When I send POST /locations/Untracked-1/products/SKU12345/sales with:
      """
      {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00","note":"extra"}
      """
    Then the response is 400 with body {"status":"BadRequest"}

  @api-2 @domain-8
  Scenario: A replayed move succeeds even though the source is now empty
    Given "WH01" received a delivery of 50 "p1" at "2024-12-07T08:00:00"
    When I send POST /locations/WH01/p1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"Store-001","quantity":50,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response status is 201
    And the stock of "p1" at "WH01" is 0.0
    When I send the same request again
    Then the response is 201, byte for byte the first answer
    And the stock of "p1" at "WH01" is 0.0
    And the stock of "p1" at "Store-001" is 50.0

  @api-2 @domain-8
  Scenario: Reusing a move's request id with other content is a mismatch even without stock for it
    Given "WH01" received a delivery of 10 "p1" at "2024-12-07T08:00:00"
    When I send POST /locations/WH01/p1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"Store-001","quantity":5,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response status is 201
    When I send POST /locations/WH01/p1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"Store-001","quantity":500,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 409 with body {"status":"IdempotencyContentMismatch"}

  @api-2 @domain-8 @auth-1
  Scenario: A replay is authorized again
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response status is 201
    Given I am a Regional Stock Auditor
    When I send the same request again
    Then the response is 403 with body {"status":"PermissionDenied"}

  @api-2 @domain-9
  Scenario: A refused request writes nothing
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00","bogus":1}
      """
    Then the response is 400 with body {"status":"BadRequest"}
    And the stock of "SKU1" at "Store-001" has never been updated
